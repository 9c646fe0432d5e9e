"""UnifiedVoice, IndexTTS-2's text-to-semantic GPT, with its conditioning encoders and a static KV cache.

The model reads a prefix of conditioning vectors, the text, and then predicts semantic ("mel") codes one by one:

    [speaker latents + emotion vector (N), speed embeddings 1 and 0]  ++  text  ++  [start_mel] codes [stop_mel]
     └ 34 vectors at full size ┘                                          └ learned positions from 0 ┘

The stack is GPT-2 (pre-LayerNorm blocks, tanh-GELU MLP, final ``ln_f``) with its own token and position
embeddings removed: text and mel embeddings carry separate learned positions, and the conditioning vectors have
none. ``final_norm`` is applied on top of ``ln_f`` before the heads. The teacher-forced pass (:meth:`forward`)
gives the latents the acoustic back end consumes; generation (``tts_engine.generation``) drives
:meth:`UnifiedVoice.decode` with a :class:`KVCache`.

Checkpoint layout: ``gpt.pth`` is the reference ``UnifiedVoice`` state_dict, loaded strictly without renaming.
Its GPT-2 weights keep transformers' ``Conv1D`` layout ([in, out]); the blocks here compute with ``nn.Linear``
([out, in], what dynamic int8 quantisation and oneDNN expect), so those four weights per block are transposed on
load and transposed back in ``state_dict()``, which therefore still matches the official file.

Shape letters: B batch (beams), T new positions, S cached positions, L text tokens, C codes, D model width,
H heads, K head width, V vocabulary, F semantic feature width, N speaker latents.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
from torch.nn import functional as F

from tts_engine.errors import ModelFolderError
from tts_engine.loading import load_strict, on_meta, read_tensors, sub_state
from tts_engine.networks.conformer import ConformerConfig, ConformerEncoder
from tts_engine.networks.layers import project
from tts_engine.networks.perceiver import PerceiverConfig, PerceiverResampler

if TYPE_CHECKING:
    from tts_engine.config import ModelConfig

# The projections of each GPT-2 block, whose weights the checkpoint stores in transformers' Conv1D layout.
_CONV1D_LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


@dataclass(frozen=True)
class GptConfig:
    """Sizes and special tokens of UnifiedVoice, from ``config.yaml`` → ``gpt`` and ``cfg.constants``.

    Reference rules baked in: the text vocabulary has one extra id (``number_text_tokens * types + 1``, types
    = 1); text positions cover ``max_text_tokens + 2`` (start and stop), mel positions ``max_mel_tokens + 3``
    (start, stop and one conditioning input); ``speed_emb`` has two rows (normal and half speed).
    """

    dim: int
    layers: int
    heads: int
    text_vocab: int
    mel_vocab: int
    text_positions: int
    mel_positions: int
    start_text_token: int
    stop_text_token: int
    start_mel_token: int
    stop_mel_token: int
    emo_latent_dim: int
    speaker_encoder: ConformerConfig
    emotion_encoder: ConformerConfig
    speaker_perceiver: PerceiverConfig
    emotion_perceiver: PerceiverConfig
    eps: float = 1e-5
    speed_rows: int = 2

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def kv_elements_per_position(self) -> int:
        """Cached key and value elements per position and row, over all layers."""
        return 2 * self.layers * self.dim

    @property
    def prefix_length(self) -> int:
        """Conditioning vectors before the text: the speaker latents plus the two speed embeddings."""
        return self.speaker_perceiver.num_latents + self.speed_rows

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> GptConfig:
        gpt: Mapping[str, Any] = cfg.raw["gpt"]
        if gpt["condition_type"] != "conformer_perceiver" or not gpt["use_mel_codes_as_input"]:
            raise ModelFolderError(
                "only the conformer-perceiver conditioning with mel codes as input is supported",
                file=cfg.file("config.yaml"),
                key="gpt.condition_type",
            )
        return cls(
            dim=int(gpt["model_dim"]),
            layers=int(gpt["layers"]),
            heads=int(gpt["heads"]),
            text_vocab=int(gpt["number_text_tokens"]) + 1,
            mel_vocab=int(gpt["number_mel_codes"]),
            text_positions=int(gpt["max_text_tokens"]) + 2,
            mel_positions=int(gpt["max_mel_tokens"]) + 3,
            start_text_token=int(gpt["start_text_token"]),
            stop_text_token=int(gpt["stop_text_token"]),
            start_mel_token=int(gpt["start_mel_token"]),
            stop_mel_token=int(gpt["stop_mel_token"]),
            emo_latent_dim=int(cfg.constants.emo_latent_dim),
            speaker_encoder=ConformerConfig.from_model_config(cfg),
            emotion_encoder=ConformerConfig.from_model_config(cfg, emotion=True),
            speaker_perceiver=PerceiverConfig.from_model_config(cfg),
            emotion_perceiver=PerceiverConfig.from_model_config(cfg, emotion=True),
        )


class KVCache:
    """Keys and values of every layer for B sequences, allocated once: ``keys``/``values`` [L, B, H, S_max, K].

    A plain object made per generation and dropped afterwards, so no state stays on the model between requests.
    Positions are written in place by :meth:`store`; nothing grows during decoding. The buffers start
    uninitialised (zeroing ~0.4 GB per row at full capacity would cost more than a decode step): a position is only
    ever read after it was written.
    """

    def __init__(self, keys: Tensor, values: Tensor) -> None:
        self.keys = keys
        self.values = values

    @classmethod
    def allocate(
        cls, config: GptConfig, batch: int, capacity: int, *, dtype: torch.dtype, device: torch.device
    ) -> KVCache:
        shape = (config.layers, batch, config.heads, capacity, config.head_dim)
        return cls(torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device))

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def store(self, layer: int, start: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write k, v [B, H, T, K] at positions [start, start + T); return all positions so far [B, H, S, K]."""
        end = start + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache holds {self.capacity} positions, {end} requested")
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def first_row(self) -> KVCache:
        """Row 0 of this cache, sharing its memory (every row holds the same prompt)."""
        return KVCache(self.keys[:, :1], self.values[:, :1])

    def expanded(self, batch: int, capacity: int, length: int) -> KVCache:
        """A new cache of ``batch`` rows, each a copy of row 0's first ``length`` positions.

        Beam search prefills the shared prompt once with one row and then decodes B rows from it.
        """
        layers, _, heads, _, head_dim = self.keys.shape
        grown = KVCache(
            self.keys.new_empty((layers, batch, heads, capacity, head_dim)),
            self.values.new_empty((layers, batch, heads, capacity, head_dim)),
        )
        grown.keys[:, :, :, :length] = self.keys[:, :1, :, :length]
        grown.values[:, :, :, :length] = self.values[:, :1, :, :length]
        return grown

    def copy_rows(self, targets: list[int], sources: list[int], start: int, end: int) -> None:
        """Rows ``targets`` take the positions [start, end) of rows ``sources``, all read before any is written.

        Beam search moves a beam's history into the row of each continuation (only the rows and positions that
        differ, see ``generation``).
        """
        device = self.keys.device
        rows, parents = torch.tensor(targets, device=device), torch.tensor(sources, device=device)
        for buffer in (self.keys, self.values):
            buffer[:, rows, :, start:end] = buffer[:, parents, :, start:end]


def _causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """q [B, H, T, K] at the last T of S positions, k/v [B, H, S, K] -> [B, H, T, K]; query i sees keys ≤ S−T+i."""
    t, s = q.shape[2], k.shape[2]
    if t == 1:
        return F.scaled_dot_product_attention(q, k, v)
    if t == s:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    visible = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(s - t)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=visible)


class Gpt2Attention(nn.Module):
    """Causal multi-head self-attention with fused q/k/v projection (``c_attn``) and output ``c_proj``."""

    def __init__(self, config: GptConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.heads = config.heads
        self.c_attn = nn.Linear(config.dim, 3 * config.dim)
        self.c_proj = nn.Linear(config.dim, config.dim)

    def forward(self, x: Tensor, cache: KVCache | None, start: int) -> Tensor:
        """x: [B, T, D] at positions [start, start + T) -> [B, T, D]; keys/values go through the cache if any."""
        b, t, d = x.shape
        q, k, v = project(self.c_attn, x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.store(self.layer, start, k, v)
        return project(self.c_proj, _causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d))


class Gpt2Mlp(nn.Module):
    """``c_proj(GELU_tanh(c_fc x))`` with a 4·D hidden width (GPT-2's ``gelu_new``)."""

    def __init__(self, config: GptConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.dim, 4 * config.dim)
        self.c_proj = nn.Linear(4 * config.dim, config.dim)

    def forward(self, x: Tensor) -> Tensor:
        return project(self.c_proj, F.gelu(project(self.c_fc, x), approximate="tanh"))


class Gpt2Block(nn.Module):
    """Pre-LN GPT-2 block: ``x + attn(ln_1 x)``, then ``x + mlp(ln_2 x)``.

    Its state_dict uses the checkpoint's Conv1D layout for the four projection weights (see the module doc).
    """

    def __init__(self, config: GptConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.dim, eps=config.eps)
        self.attn = Gpt2Attention(config, layer)
        self.ln_2 = nn.LayerNorm(config.dim, eps=config.eps)
        self.mlp = Gpt2Mlp(config)
        self.register_load_state_dict_pre_hook(self._conv1d_layout)
        self.register_state_dict_post_hook(self._conv1d_layout)

    @staticmethod
    def _conv1d_layout(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
        """Transpose the projection weights between Conv1D [in, out] and nn.Linear [out, in] (both ways)."""
        for name in _CONV1D_LINEARS:
            key = f"{prefix}{name}.weight"
            if key in state:
                state[key] = state[key].t().contiguous()

    def forward(self, x: Tensor, cache: KVCache | None, start: int) -> Tensor:
        """x: [B, T, D] at positions [start, start + T) -> [B, T, D]."""
        x = x + self.attn(self.ln_1(x), cache, start)
        return x + self.mlp(self.ln_2(x))


class Gpt2Stack(nn.Module):
    """The transformer: ``h`` blocks and ``ln_f``. [B, T, D] embeddings -> [B, T, D] hidden states."""

    def __init__(self, config: GptConfig) -> None:
        super().__init__()
        self.h = nn.ModuleList(Gpt2Block(config, i) for i in range(config.layers))
        self.ln_f = nn.LayerNorm(config.dim, eps=config.eps)

    def forward(self, x: Tensor, cache: KVCache | None = None, start: int = 0) -> Tensor:
        """Without a cache: plain causal pass over x. With one: x sits at [start, start + T) after the cache."""
        for block in self.h:
            x = block(x, cache, start)
        return self.ln_f(x)


class LearnedPositions(nn.Module):
    """A learned position table (``emb.weight`` [P, D]); :meth:`forward` gives rows [start, start + n)."""

    def __init__(self, positions: int, dim: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(positions, dim)

    def forward(self, start: int, n: int) -> Tensor:
        return self.emb.weight[start : start + n]


class UnifiedVoice(nn.Module):
    """Conditioning encoders, embeddings, GPT-2 stack and heads; module names are the checkpoint's."""

    def __init__(self, config: GptConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.conditioning_encoder = ConformerEncoder(config.speaker_encoder)
        self.perceiver_encoder = PerceiverResampler(config.speaker_perceiver)
        self.speed_emb = nn.Embedding(config.speed_rows, d)
        self.emo_conditioning_encoder = ConformerEncoder(config.emotion_encoder)
        self.emo_perceiver_encoder = PerceiverResampler(config.emotion_perceiver)
        self.text_embedding = nn.Embedding(config.text_vocab, d)
        self.emo_layer = nn.Linear(d, d)
        self.emovec_layer = nn.Linear(config.emo_latent_dim, d)
        self.mel_embedding = nn.Embedding(config.mel_vocab, d)
        self.gpt = Gpt2Stack(config)
        self.mel_pos_embedding = LearnedPositions(config.mel_positions, d)
        self.text_pos_embedding = LearnedPositions(config.text_positions, d)
        self.final_norm = nn.LayerNorm(d, eps=config.eps)
        # The text head is trained but never used at inference; it is kept so gpt.pth loads strictly.
        self.text_head = nn.Linear(d, config.text_vocab)
        self.mel_head = nn.Linear(d, config.mel_vocab)

    @classmethod
    def load(cls, cfg: ModelConfig) -> UnifiedVoice:
        """Build on the meta device and load ``gpt.pth`` strictly (flat, or wrapped as ``{'model': ...}``)."""
        path = cfg.file(cfg.get("gpt_checkpoint", str))
        state = read_tensors(path)
        if all(key.startswith("model.") for key in state):
            state = sub_state(state, "model", source=path)
        config = GptConfig.from_model_config(cfg)
        model = on_meta(lambda: cls(config))
        load_strict(model, state, source=path)
        return model.eval().requires_grad_(False)

    def decode_parameter_count(self) -> int:
        """Parameters one decode step reads: the GPT-2 stack, ``final_norm`` and the mel head.

        Decoding is bound by memory bandwidth, so this (times the bytes per weight, plus the KV cache) over the
        machine's bandwidth is the floor of the time per code; the embedding rows it also reads are negligible.
        """
        modules = (self.gpt, self.final_norm, self.mel_head)
        return sum(p.numel() for module in modules for p in module.parameters())

    # -- conditioning ---------------------------------------------------------------------------------------

    def speaker_latents(self, cond_emb: Tensor, lengths: Tensor) -> Tensor:
        """Speaker conditioning: semantic features [B, T, F], valid lengths [B] -> latents [B, N, D].

        The reference passes ``lengths = [cond_emb.shape[-1]]`` (the feature width, not the frame count), see
        ``reference_lengths``.
        """
        frames, mask = self.conditioning_encoder(cond_emb, lengths)
        return self.perceiver_encoder(frames, mask)

    def emotion_vector(self, cond_emb: Tensor, lengths: Tensor) -> Tensor:
        """Emotion vector of a clip: semantic features [B, T, F], lengths [B] -> [B, D]."""
        frames, mask = self.emo_conditioning_encoder(cond_emb, lengths)
        latent = self.emo_perceiver_encoder(frames, mask)[:, 0]
        return self.emo_layer(self.emovec_layer(latent))

    def conditioning_prefix(self, speaker_latents: Tensor, emovec: Tensor) -> Tensor:
        """[B, N, D] latents + [B, D] emotion vector -> [B, N + 2, D]: latents + emovec, speed rows 1 then 0.

        The reference always appends both speed rows (half speed, then normal) whatever speed is asked for;
        ``infer_generator`` never asks for another.
        """
        rows = torch.tensor([1, 0], device=speaker_latents.device)
        speed = self.speed_emb(rows)[None].expand(speaker_latents.shape[0], -1, -1)
        return torch.cat([speaker_latents + emovec[:, None], speed], dim=1)

    # -- embeddings -----------------------------------------------------------------------------------------

    def text_inputs(self, text_ids: Tensor) -> Tensor:
        """[B, L] ids -> [B, L + 2, D]: ``[start_text] + ids + [stop_text]`` embedded, positions 0..L+1."""
        c = self.config
        ids = F.pad(F.pad(text_ids.long(), (1, 0), value=c.start_text_token), (0, 1), value=c.stop_text_token)
        return self.text_embedding(ids) + self.text_pos_embedding(0, ids.shape[1])

    def mel_inputs(self, codes: Tensor, start: int) -> Tensor:
        """[B, C] mel ids at mel positions [start, start + C) -> [B, C, D]."""
        return self.mel_embedding(codes) + self.mel_pos_embedding(start, codes.shape[1])

    def generation_prompt(self, speaker_latents: Tensor, emovec: Tensor, text_ids: Tensor) -> Tensor:
        """The prompt generation prefills: prefix ++ text ++ ``start_mel`` at mel position 0, [1, P, D].

        As in the reference, text ids equal to the start/stop text tokens are dropped before the text gets its
        own start and stop (text_ids: [1, L]).
        """
        ids = self._generation_text(text_ids)
        start = torch.full((1, 1), self.config.start_mel_token, dtype=torch.long, device=ids.device)
        return torch.cat(
            [self.conditioning_prefix(speaker_latents, emovec), self.text_inputs(ids), self.mel_inputs(start, 0)],
            dim=1,
        )

    def _generation_text(self, text_ids: Tensor) -> Tensor:
        ids = text_ids[0]
        return ids[(ids != self.config.start_text_token) & (ids != self.config.stop_text_token)][None]

    def prompt_starts_forward(self, text_ids: Tensor) -> bool:
        """Whether the generation prompt of ``text_ids`` [1, L] is the start of ``forward``'s input: it is unless the
        ids hold a start or stop text token, which generation drops and the teacher-forced pass keeps."""
        return self._generation_text(text_ids).shape[1] == text_ids.shape[1]

    # -- passes ---------------------------------------------------------------------------------------------

    def forward(self, speaker_latents: Tensor, text_ids: Tensor, codes: Tensor, emovec: Tensor) -> Tensor:
        """Teacher-forced pass as ``infer_generator`` runs it: latents [B, C, D] for the acoustic back end.

        Input ``prefix ++ text ++ [start_mel] + codes + [stop_mel]`` (mel positions 0..C+1); the output is
        ``final_norm`` of the hidden states at the mel inputs, without the last two.
        speaker_latents [B, N, D], text_ids [B, L], codes [B, C], emovec [B, D].
        """
        c = self.config
        mel = F.pad(F.pad(codes.long(), (1, 0), value=c.start_mel_token), (0, 1), value=c.stop_mel_token)
        x = torch.cat(
            [self.conditioning_prefix(speaker_latents, emovec), self.text_inputs(text_ids), self.mel_inputs(mel, 0)],
            dim=1,
        )
        hidden = self.gpt(x)
        return self.final_norm(hidden[:, -mel.shape[1] : -2])

    def latents_after_prompt(self, codes: Tensor, cache: KVCache, prompt_length: int, prompt_hidden: Tensor) -> Tensor:
        """``forward``'s latents, continuing from the generation's prompt instead of running it again.

        ``forward``'s input starts with the generation prompt itself (when ``prompt_starts_forward``): prefix, text
        and ``start_mel`` at mel position 0. A position's output depends on the positions up to it alone, so the
        prompt's cached keys and values and its last output (``Generation``) are those of ``forward``'s first rows.
        Only the codes but the last run, at mel positions 1..C−1: the last code and ``stop_mel`` feed only the
        outputs ``forward`` drops. Equal to ``forward`` up to float rounding, with a third fewer positions at the
        reference's workload (60 text ids, 200 codes).
        codes [1, C]; cache: one row whose positions [0, prompt_length) hold the prompt; prompt_hidden [1, 1, D]
        -> [1, C, D]. The cache's later positions are overwritten.
        """
        rows = [prompt_hidden]
        if codes.shape[1] > 1:
            rows.append(self.gpt(self.mel_inputs(codes[:, :-1], 1), cache, prompt_length))
        return self.final_norm(torch.cat(rows, dim=1))

    def logits(self, hidden: Tensor) -> Tensor:
        """Mel-code logits of GPT hidden states: [B, T, D] -> [B, T, V]."""
        return project(self.mel_head, self.final_norm(hidden))

    def decode(self, x: Tensor, cache: KVCache, start: int) -> Tensor:
        """Run embeddings x [B, T, D] at positions [start, start + T) through the cached stack.

        Returns the mel logits of the last position, [B, V] (prefill and decode steps both only need that).
        """
        return self.logits(self.gpt(x, cache, start)[:, -1:])[:, 0]


def quantize_int8(model: UnifiedVoice) -> UnifiedVoice:
    """Fast mode: int8 dynamic quantisation of the GPT-2 projections and the mel head, in place.

    Decoding reads every weight of the stack once per code, so it is bound by memory bandwidth; int8 weights
    are a quarter of the float32 bytes (per-channel scales, activations quantised per call, results in float32).
    The conditioning encoders, embeddings and norms stay float32. Codes may differ from exact mode; ``bench/``
    reports by how much. torch 2.9 (the pinned version) marks ``torch.ao.quantization`` deprecated in favour of
    torchao, which the engine does not depend on; the warning is silenced here only.
    """
    spec = {"gpt": per_channel_dynamic_qconfig, "mel_head": per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning)
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    return model


def reference_lengths(cond_emb: Tensor) -> Tensor:
    """The conditioning "lengths" ``infer_generator`` passes: ``[cond_emb.shape[-1]]``, the feature width.

    At full size that is 1024, more than any 15 s clip has frames, so nothing is masked; a tiny model masks the
    frames beyond its width. Reproduced literally because the outputs depend on it.
    """
    return torch.tensor([cond_emb.shape[-1]], device=cond_emb.device)
