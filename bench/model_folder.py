"""Write a complete IndexTTS-2 model folder with random weights, in the official release's files and formats.

Why: the service and callout benches must time what a user gets, the model loaded from a folder by the engine's
own loading code (``HERALD_TTS_MODEL_DIR``), at the released model's full size. Real weights cannot be downloaded
here, and speed does not depend on their values, so this writes random ones (about 6.9 GB at full size):

    config.yaml                 the configuration the folder is written at (default: the official one)
    gpt.pth                     UnifiedVoice state_dict, flat, GPT-2 projections in Conv1D [in, out] layout
    s2mel.pth                   {'net': {'cfm', 'length_regulator', 'gpt_layer'}, 'epoch', 'iters'}
    wav2vec2bert_stats.pt       {'mean', 'var'};  feat1.pt, feat2.pt: one tensor each
    bpe.model                   SentencePiece BPE with the configuration's text vocabulary (see train_bpe)
    hf_cache/semantic_codec_model.safetensors, hf_cache/campplus_cn_common.bin,
    hf_cache/bigvgan/{bigvgan_generator.pt ({'generator': state_dict}), config.json},
    hf_cache/w2v-bert-2.0/{model.safetensors, config.json, preprocessor_config.json}

Each network is built on the meta device and filled by ``bench/random_weights.py``. Writing inverts what the
loaders do (``tts_engine.loading`` and each network's ``load``): the official files keep weight norm where the
reference trains with it, as ``weight_g`` / ``weight_v``, and name some keys differently (:data:`LAYOUTS`).
``g = ‖v‖`` per output channel with ``v`` = our folded weight folds back to that weight exactly.

One deliberate departure from plain random values: a random GPT never picks the stop code (its logit is one of
8194 draws), so every segment would run to the 1500-code cap, 30 s of audio. :func:`end_segments_after` makes
every segment stop after exactly ``codes_per_segment`` codes instead (a trained model stops when the text is
spoken; no set of weights short of a trained one makes the length follow the text).

Usage: ``python bench/model_folder.py OUT_DIR [--seed 0] [--codes-per-segment 1000] [--source MODEL_DIR]``;
``--source`` takes the sizes from another folder's config.yaml and hf_cache configs (e.g. the conformance
bundle's tiny model). Takes a few minutes and ~8 GB of memory at full size.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from pydoc_data.topics import topics
from typing import Any

import sentencepiece
import torch
from pypinyin import phrases_dict
from pypinyin.contrib.tone_convert import to_tone3
from safetensors.torch import save_file
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.random_weights import (
    W2V_BERT_FOLDER,
    random_emotion_matrices,
    random_network,
    w2v_bert_architecture,
)
from tts_engine.conditioning import CAMPPLUS_FILE, SEMANTIC_CODEC_FILE
from tts_engine.config import CONFIG_FILE, OFFICIAL_CONFIG, ModelConfig, load_config
from tts_engine.networks import bigvgan, w2v_bert
from tts_engine.networks.bigvgan import BigVGAN, BigVGANArgs
from tts_engine.networks.campplus import CAMPPlus, CampplusConfig
from tts_engine.networks.gpt import GptConfig, UnifiedVoice
from tts_engine.networks.semantic_codec import SemanticCodec, SemanticCodecConfig
from tts_engine.networks.w2v_bert import build_model
from tts_engine.s2mel import S2Mel
from tts_engine.text import space_cjk

W2V_BERT_CONFIGS = ("config.json", "preprocessor_config.json")
# The stop code's logit once a segment is due to end (every other code's logit is about N(0, 1) then), its bias
# (how far below the other codes it sits before), and the size of the position rows' push: it dwarfs what the
# blocks add to the residual stream (each about sqrt(D)).
STOP_LOGIT = 15.0
STOP_BIAS = -25.0
POSITION_PUSH = 1e4


@dataclass(frozen=True)
class Layout:
    """How an official checkpoint file stores one of our modules.

    ``renames`` map our state_dict keys to the file's (regex, replacement; the inverse of the loader's
    ``checkpoint_key``); ``weight_norm`` matches the file's keys of weights stored as ``weight_g`` / ``weight_v``;
    ``prefix`` is the container path, dotted as ``read_tensors`` flattens it.
    """

    prefix: str = ""
    renames: tuple[tuple[str, str], ...] = ()
    weight_norm: str | None = None


LAYOUTS = {
    "gpt": Layout(),  # UnifiedVoice.state_dict() already writes the Conv1D layout
    "s2mel": Layout(
        prefix="net.",
        renames=(
            (r"^dit\.", "cfm.estimator."),
            (r"^(cfm\.estimator\.wavenet\.(?:in_layers\.\d+|res_skip_layers\.\d+|cond_layer))\.", r"\1.conv.conv."),
        ),
        weight_norm=r"cfm\.estimator\.(?:x_embedder|final_layer\.linear|wavenet\..+\.conv\.conv)\.weight",
    ),
    "codec": Layout(weight_norm=r"quantizer\.quantizers\.\d+\.(?:in|out)_project\.weight"),
    "campplus": Layout(),
    "bigvgan": Layout(
        prefix="generator.",
        renames=(
            (r"^ups\.(\d+)\.", r"ups.\1.0."),
            (r"\.(alpha|beta)$", r".act.\1"),
            (r"\.upsample_filter$", ".upsample.filter"),
            (r"\.downsample_filter$", ".downsample.lowpass.filter"),
        ),
        weight_norm=r"(?:conv_pre|conv_post|ups\.\d+\.0|resblocks\.\d+\.convs[12]\.\d+)\.weight",
    ),
    "w2v_bert": Layout(),
}


def official_state(state: Mapping[str, Tensor], layout: Layout) -> dict[str, Tensor]:
    """Our module's state_dict in the file's keys, weight-normed layers split into ``weight_g`` / ``weight_v``."""
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        for pattern, replacement in layout.renames:
            key = re.sub(pattern, replacement, key)
        if layout.weight_norm and re.fullmatch(layout.weight_norm, key):
            stem = key.removesuffix("weight")
            dims = tuple(range(1, tensor.dim()))
            out[stem + "weight_g"] = torch.linalg.vector_norm(tensor, dim=dims, keepdim=True)
            out[stem + "weight_v"] = tensor
        else:
            out[key] = tensor
    return {layout.prefix + key: tensor for key, tensor in out.items()}


def networks(cfg: ModelConfig, build: Callable[[Callable[[], nn.Module]], nn.Module]) -> Iterator[tuple[str, Any]]:
    """(name, module) for every network of a folder at ``cfg``'s sizes, each made by ``build(factory)``.

    A generator, so that the writer holds one network in memory at a time.
    """
    yield "gpt", build(lambda: UnifiedVoice(GptConfig.from_model_config(cfg)))
    yield "s2mel", build(lambda: S2Mel.from_model_config(cfg))
    yield "codec", build(lambda: SemanticCodec(SemanticCodecConfig.from_model_config(cfg)))
    yield "campplus", build(lambda: CAMPPlus(CampplusConfig.from_model_config(cfg)))
    yield "bigvgan", build(lambda: BigVGAN(BigVGANArgs.from_model_config(cfg)))
    hf_config, _ = w2v_bert_architecture(cfg)  # every layer: the official file has all 24
    yield "w2v_bert", build(lambda: build_model(hf_config))


def file_names(cfg: ModelConfig) -> dict[str, str]:
    """Network name -> its file in the folder, as the loaders find it."""
    return {
        "gpt": cfg.get("gpt_checkpoint", str),
        "s2mel": cfg.get("s2mel_checkpoint", str),
        "codec": SEMANTIC_CODEC_FILE,
        "campplus": CAMPPLUS_FILE,
        "bigvgan": bigvgan.WEIGHTS_FILE,
        "w2v_bert": f"{W2V_BERT_FOLDER}/{w2v_bert.WEIGHTS_FILE}",
    }


def end_segments_after(gpt: UnifiedVoice, codes: int, generator: torch.Generator) -> None:
    """Make every generation stop after exactly ``codes`` codes, whatever the text and sampling.

    The ``k``-th code is fed at mel position ``k + 1``, so the position rows from ``codes + 1`` on get a large
    component along a random unit direction u. It dominates the residual stream through every block, the final
    norm turns it into ``sqrt(D) u``, and the stop code's head row ``(STOP_LOGIT - STOP_BIAS) u / sqrt(D)`` with
    bias ``STOP_BIAS`` then scores ``STOP_LOGIT``: all beams stop at once. Before that the stop code's logit is
    about N(STOP_BIAS, ((STOP_LOGIT - STOP_BIAS) / sqrt(D))²), far below every other code's N(0, 1).
    A segment's audio is ``int(codes · 1.72)`` mel frames.
    """
    config = gpt.config
    if not 1 <= codes < config.mel_positions - 2:
        raise ValueError(f"codes per segment must be in [1, {config.mel_positions - 3}], got {codes}")
    direction = torch.randn(config.dim, generator=generator)
    direction /= direction.norm()
    with torch.no_grad():
        gpt.mel_pos_embedding.emb.weight[codes + 1 :] += POSITION_PUSH * direction
        gpt.mel_head.weight[config.stop_mel_token] = (STOP_LOGIT - STOP_BIAS) / math.sqrt(config.dim) * direction
        gpt.mel_head.bias[config.stop_mel_token] = STOP_BIAS


def train_bpe(path: Path, vocab_size: int) -> None:
    """A SentencePiece BPE model of ``vocab_size`` pieces (the official 12,000; the tiny bundle's has 2,431).

    Its conventions are the official model's: ``<s>`` 0, ``</s>`` 1, ``<unk>`` 2; text as the front end hands it
    over (CJK characters spaced, everything else upper-case). Corpus: pypinyin's phrase list, in characters and in
    upper-case tone-numbered pinyin (the pinyin markup's tokens), and for English the Python documentation's topic
    texts that ship with the interpreter (``pydoc_data``). Deterministic for a given corpus; takes seconds. The
    3-sentence summary of ``bench/tts_service.py`` comes out at 124 tokens: two segments (99 + 25) of at most 120.
    """
    lines = []
    for phrase, readings in phrases_dict.phrases_dict.items():
        lines.append(space_cjk(phrase))
        lines.append(" ".join(to_tone3(syllables[0], neutral_tone_with_five=True).upper() for syllables in readings))
    lines += [space_cjk(line) for text in topics.values() for line in text.splitlines() if line.strip()]
    with path.open("wb") as out:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=out,
            vocab_size=vocab_size,
            model_type="bpe",
            character_coverage=0.9995,
            bos_id=0,
            eos_id=1,
            unk_id=2,
            num_threads=1,
            minloglevel=2,
        )


def copy_configs(folder: Path, source: Path | None) -> ModelConfig:
    """config.yaml, the hf_cache JSON configurations and the tokenizer, from ``source`` (default: the official
    configuration, whose tokenizer is trained here).

    The folder's own configuration is then what every network is built from, exactly as the loaders will read it.
    """
    shutil.copyfile(source / CONFIG_FILE if source else OFFICIAL_CONFIG, folder / CONFIG_FILE)
    cfg = load_config(folder)
    if source:
        shutil.copyfile(load_config(source).bpe_model, cfg.bpe_model)
    else:
        train_bpe(cfg.bpe_model, cfg.get("gpt.number_text_tokens", int))
    origin = source or OFFICIAL_CONFIG.parent
    (folder / bigvgan.CONFIG_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(origin / bigvgan.CONFIG_FILE, folder / bigvgan.CONFIG_FILE)
    w2v_folder = folder / W2V_BERT_FOLDER
    w2v_folder.mkdir(parents=True, exist_ok=True)
    if source and (source / W2V_BERT_FOLDER / "config.json").is_file():
        for name in W2V_BERT_CONFIGS:
            shutil.copyfile(source / W2V_BERT_FOLDER / name, w2v_folder / name)
    else:
        hf_config, extractor = w2v_bert_architecture(cfg)  # facebook/w2v-bert-2.0's
        hf_config.architectures = ["Wav2Vec2BertModel"]
        hf_config.to_json_file(w2v_folder / "config.json")
        extractor.to_json_file(w2v_folder / "preprocessor_config.json")
    return load_config(folder)


def save_checkpoint(path: Path, flat: Mapping[str, Tensor], prefix: str) -> None:
    """Write ``flat`` (dotted keys) in the file's container: safetensors, or a torch.save pickle nested as the
    official files are (``{'net': {section: state_dict}, 'epoch', 'iters'}``, ``{'generator': state_dict}``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(dict(flat), path, metadata={"format": "pt"})
        return
    if prefix == "net.":
        sections: dict[str, dict[str, Tensor]] = {}
        for key, tensor in flat.items():
            section, rest = key.removeprefix(prefix).split(".", 1)
            sections.setdefault(section, {})[rest] = tensor
        torch.save({"net": sections, "epoch": 0, "iters": 0}, path)
    elif prefix:
        torch.save({prefix.rstrip("."): {k.removeprefix(prefix): v for k, v in flat.items()}}, path)
    else:
        torch.save(dict(flat), path)


def write_random_model(
    folder: str | Path, seed: int = 0, *, source: Path | None = None, codes_per_segment: int = 1000
) -> Path:
    """Write a complete model folder with random weights (see the module docstring) and return its path.

    ``source``: a model folder whose config.yaml (and hf_cache configs) give the sizes; None for the official
    full-size configuration. ``codes_per_segment``: where every segment's generation stops (50 codes a second).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = copy_configs(folder, Path(source) if source else None)
    generator = torch.Generator().manual_seed(seed)
    names = file_names(cfg)
    for name, module in networks(cfg, lambda factory: random_network(factory, generator)):
        if name == "gpt":
            end_segments_after(module, codes_per_segment, generator)
        layout = LAYOUTS[name]
        save_checkpoint(folder / names[name], official_state(module.state_dict(), layout), layout.prefix)
        del module
    hf_config, _ = w2v_bert_architecture(cfg)
    width = hf_config.hidden_size
    torch.save({"mean": torch.zeros(width), "var": torch.ones(width)}, cfg.file(cfg.get("w2v_stat", str)))
    emotions = random_emotion_matrices(cfg, generator)
    torch.save(torch.cat(emotions.speaker), cfg.file(cfg.get("spk_matrix", str)))
    torch.save(torch.cat(emotions.emotion), cfg.file(cfg.get("emo_matrix", str)))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="where to write (created; keep it outside the repository)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codes-per-segment", type=int, default=1000, help="every segment's length (50 per second)")
    parser.add_argument("--source", type=Path, help="a model folder whose sizes to use (default: official)")
    args = parser.parse_args()
    start = time.perf_counter()
    folder = write_random_model(args.folder, args.seed, source=args.source, codes_per_segment=args.codes_per_segment)
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    print(json.dumps({"folder": str(folder), "seconds": time.perf_counter() - start, "bytes": sizes}, indent=2))


if __name__ == "__main__":
    main()
