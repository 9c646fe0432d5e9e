"""Semantic-code generation with UnifiedVoice: prefill, cached decode steps, greedy, beam search and sampling.

Embeddings and ids in, ids out: the caller builds the prompt with ``UnifiedVoice.generation_prompt`` and gets the
generated mel codes back, with the prompt's cached keys and values for the teacher-forced pass that follows
(``Generation``); nothing here knows about text or audio.

The loop is our own (no framework ``generate()``) and reproduces the reference's HuggingFace-driven decoding
exactly where it is deterministic:

* **Prefill once, decode with a static cache.** The prompt runs through the GPT once with one row; beam search then
  copies that cache into its B rows (the prompt is shared) and each step feeds one code per row. When beams
  change parents, a row takes over only the part of its new parent's cached history that differs from its own.
* **Mel positions.** The k-th generated code is embedded at mel position k + 1 (the reference derives the position
  from an attention mask that already counts the new token), so position 1 is never used during generation.
* **Repetition penalty** (HF semantics: a seen id's score is divided by the penalty when positive, multiplied when
  negative) applies to every id in the reference's ``input_ids``, which start with a fake prompt of ones and
  ``start_mel_token``; ids 1 and ``start_mel_token`` are therefore penalised from the first step. Greedy and
  sampling penalise the raw logits, beam search the log-probabilities.
* **Beam search** is HuggingFace's ``BeamSearchScorer`` with ``early_stopping=False``: 2·B candidates over all
  beams, a stop token among the first B candidates closes a hypothesis (scored by its summed log-probabilities
  over ``generated_length ** length_penalty``), the others continue; the search ends when B hypotheses are
  closed and none of the running beams can beat the worst, or at ``max_new_tokens``. Beam 0 starts at score 0,
  the others at −1e9, so the first step expands one beam.
* **Sampling** (not covered by the conformance bundle; the product's choice) follows HF's warper order:
  temperature, top-k, top-p, then a multinomial draw from an explicit ``torch.Generator``. Temperature 0 means
  greedy (or deterministic beam search). Beam sampling draws the 2·B candidates without replacement from the
  softmax of the warped beam scores, as HF does.
* **No cuDNN attention while decoding.** Each step's attention has a new key length, and cuDNN's attention backend
  (which PyTorch prefers for half precision on Hopper GPUs) builds an execution plan per new shape: ~50 ms each,
  which made a first float16 generation on an H100 six times slower than a float32 one. Flash / memory-efficient
  attention need no plan; on a CPU the choice is unchanged.

Shape letters: B rows (beams), P prompt positions, D model width, V mel vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from tts_engine.errors import InvalidRequest
from tts_engine.networks.gpt import KVCache, UnifiedVoice

# Every attention backend but cuDNN's, which plans per shape (see the module docstring).
_DECODE_ATTENTION = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]

# The reference hands HuggingFace a fake prompt of ``torch.ones`` ids (then ``start_mel_token``); the repetition
# penalty sees them, so id 1 counts as already generated.
FAKE_PROMPT_ID = 1
# HF's initial score of every beam but the first, so that step one expands a single beam.
_DORMANT_BEAM_SCORE = -1e9


@dataclass(frozen=True)
class DecodingOptions:
    """How to pick codes. Defaults are ``infer_generator``'s, except sampling, which is off (deterministic).

    ``max_new_tokens`` caps the generated codes (the reference's ``max_generate_length``; ``infer_generator``
    passes ``max_mel_tokens`` = 1500). ``top_k`` 0 and ``top_p`` 1 disable those filters.
    """

    max_new_tokens: int = 1500
    num_beams: int = 3
    repetition_penalty: float = 10.0
    length_penalty: float = 0.0
    do_sample: bool = False
    temperature: float = 0.8
    top_k: int = 30
    top_p: float = 0.8

    def __post_init__(self) -> None:
        problems = [
            (self.max_new_tokens < 1, "max_new_tokens must be at least 1"),
            (self.num_beams < 1, "num_beams must be at least 1"),
            (self.repetition_penalty <= 0, "repetition_penalty must be positive"),
            (self.temperature < 0, "temperature must not be negative"),
            (self.top_k < 0, "top_k must not be negative"),
            (not 0 < self.top_p <= 1, "top_p must be in (0, 1]"),
        ]
        for failed, message in problems:
            if failed:
                raise InvalidRequest(message)

    @property
    def samples(self) -> bool:
        """Whether draws are random: sampling on with a positive temperature."""
        return self.do_sample and self.temperature > 0


# -- score processing ---------------------------------------------------------------------------------------


def apply_repetition_penalty(scores: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """HF's rule on the ids marked in ``seen``: positive scores ÷ penalty, negative × penalty. [B, V] -> [B, V]."""
    penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, penalised, scores)


def top_k_filter(scores: Tensor, k: int, min_keep: int = 1) -> Tensor:
    """Keep the ``max(k, min_keep)`` highest scores (and ties with the last kept); the rest become −inf."""
    k = min(max(k, min_keep), scores.shape[-1])
    threshold = scores.topk(k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < threshold, float("-inf"))


def top_p_filter(scores: Tensor, p: float, min_keep: int = 1) -> Tensor:
    """Keep the fewest highest-probability ids whose probabilities (softmax of ``scores``) sum to at least p.

    At least ``min_keep`` ids stay; the rest become −inf. [B, V] -> [B, V].
    """
    ordered, order = scores.sort(dim=-1, descending=True)
    probs = ordered.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop_sorted = mass_before >= p
    drop_sorted[..., :min_keep] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


def warp(scores: Tensor, options: DecodingOptions, min_keep: int = 1) -> Tensor:
    """HF's sampling warpers in HF's order: temperature, top-k, top-p. [B, V] -> [B, V]."""
    scores = scores / options.temperature
    if options.top_k > 0:
        scores = top_k_filter(scores, options.top_k, min_keep)
    if options.top_p < 1.0:
        scores = top_p_filter(scores, options.top_p, min_keep)
    return scores


def sample_next_token(scores: Tensor, options: DecodingOptions, generator: torch.Generator | None) -> Tensor:
    """One id per row from processed scores [B, V] -> [B]: argmax at temperature 0, else a warped draw."""
    if not options.samples:
        return scores.argmax(dim=-1)
    probs = warp(scores, options).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@dataclass(frozen=True)
class Generation:
    """The generated codes [n] (int64, ending with the stop token if one was made), and what the teacher-forced pass
    can start from (``UnifiedVoice.latents_after_prompt``): a one-row cache whose positions [0, prompt_length) hold
    the prompt's keys and values, and the GPT's output at the prompt's last position, [1, 1, D]."""

    codes: Tensor
    cache: KVCache
    prompt_length: int
    prompt_hidden: Tensor


# -- model steps --------------------------------------------------------------------------------------------


def prefill(model: UnifiedVoice, prompt: Tensor, cache: KVCache) -> tuple[Tensor, Tensor]:
    """Run the prompt [1, P, D] into an empty cache; return the logits after its last position, [1, V], and the
    GPT's output there, [1, 1, D]."""
    hidden = model.gpt(prompt, cache, 0)[:, -1:]
    return model.logits(hidden)[:, 0], hidden


def decode_step(model: UnifiedVoice, codes: Tensor, step: int, prompt_length: int, cache: KVCache) -> Tensor:
    """Feed the ``step``-th generated code of each row (codes [B], step ≥ 1); return next logits [B, V].

    The code goes to cache position ``prompt_length + step − 1`` and is embedded at mel position ``step + 1``.
    """
    x = model.mel_inputs(codes[:, None], step + 1)
    return model.decode(x, cache, prompt_length + step - 1)


def _seen_at_start(model: UnifiedVoice, rows: int, vocab: int, device: torch.device) -> Tensor:
    """[B, V] mask of the ids the repetition penalty already sees before the first step (the fake prompt)."""
    seen = torch.zeros(rows, vocab, dtype=torch.bool, device=device)
    seen[:, [FAKE_PROMPT_ID, model.config.start_mel_token]] = True
    return seen


# -- decoding strategies ------------------------------------------------------------------------------------


@torch.inference_mode()
def generate(
    model: UnifiedVoice, prompt: Tensor, options: DecodingOptions, generator: torch.Generator | None = None
) -> Generation:
    """Generate mel codes after ``prompt`` [1, P, D].

    ``generator`` drives sampling (ignored when decoding is deterministic), so a seeded generator reproduces a run.
    """
    longest = model.config.mel_positions - 1
    if options.max_new_tokens > longest:
        raise InvalidRequest(f"max_new_tokens is {options.max_new_tokens}; this model generates at most {longest}")
    prompt_length = prompt.shape[1]
    with sdpa_kernel(_DECODE_ATTENTION):
        prompt_cache = KVCache.allocate(model.config, 1, prompt_length, dtype=prompt.dtype, device=prompt.device)
        logits, hidden = prefill(model, prompt, prompt_cache)
        cache = prompt_cache.expanded(options.num_beams, prompt_length + options.max_new_tokens, prompt_length)
        if options.num_beams == 1:
            codes = _single(model, logits, cache, prompt_length, options, generator)
        else:
            codes = _beam_search(model, logits, cache, prompt_length, options, generator)
    return Generation(codes, cache.first_row(), prompt_length, hidden)


def _single(
    model: UnifiedVoice,
    logits: Tensor,
    cache: KVCache,
    prompt_length: int,
    options: DecodingOptions,
    generator: torch.Generator | None,
) -> Tensor:
    """Greedy search or plain sampling, one row: penalty on the raw logits, then argmax or a draw."""
    stop = model.config.stop_mel_token
    seen = _seen_at_start(model, 1, logits.shape[-1], logits.device)
    codes = torch.empty(options.max_new_tokens, dtype=torch.long, device=logits.device)
    for step in range(1, options.max_new_tokens + 1):
        scores = apply_repetition_penalty(logits.float(), seen, options.repetition_penalty)
        code = sample_next_token(scores, options, generator)
        codes[step - 1] = code[0]
        if int(code) == stop:
            return codes[:step]
        if step < options.max_new_tokens:
            seen[0, code] = True
            logits = decode_step(model, code, step, prompt_length, cache)
    return codes


class _Hypotheses:
    """Finished beam hypotheses, HF ``BeamHypotheses`` semantics: the best ``capacity`` by length-penalised score."""

    def __init__(self, capacity: int, length_penalty: float) -> None:
        self.capacity = capacity
        self.length_penalty = length_penalty
        self.entries: list[tuple[float, Tensor]] = []
        self.worst = 1e9

    def add(self, codes: Tensor, summed_logprobs: float, generated_length: int) -> None:
        score = summed_logprobs / generated_length**self.length_penalty
        if len(self.entries) < self.capacity or score > self.worst:
            self.entries.append((score, codes))
            if len(self.entries) > self.capacity:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.entries))
                del self.entries[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_running: float, generated_length: int) -> bool:
        """Full, and no running beam (best summed score ``best_running``) can beat the worst kept hypothesis."""
        if len(self.entries) < self.capacity:
            return False
        return self.worst >= best_running / generated_length**self.length_penalty

    def best(self) -> Tensor:
        """The highest score; among equal scores the one added last (HF sorts stably and pops the end)."""
        return sorted(self.entries, key=lambda entry: entry[0])[-1][1]


def _beam_search(
    model: UnifiedVoice,
    logits: Tensor,
    cache: KVCache,
    prompt_length: int,
    options: DecodingOptions,
    generator: torch.Generator | None,
) -> Tensor:
    """Beam search (or beam sampling) over B rows that share one batched decode step per code."""
    beams, vocab = options.num_beams, logits.shape[-1]
    stop = model.config.stop_mel_token
    device = logits.device
    seen = _seen_at_start(model, beams, vocab, device)
    beam_scores = torch.full((beams,), _DORMANT_BEAM_SCORE, dtype=torch.float32, device=device)
    beam_scores[0] = 0.0
    codes = torch.empty(beams, options.max_new_tokens, dtype=torch.long, device=device)
    finished = _Hypotheses(beams, options.length_penalty)
    logits = logits.expand(beams, vocab)
    done = False
    for step in range(1, options.max_new_tokens + 1):
        logprobs = apply_repetition_penalty(F.log_softmax(logits.float(), dim=-1), seen, options.repetition_penalty)
        if options.samples:
            logprobs = warp(logprobs, options, min_keep=2)
        totals = (logprobs + beam_scores[:, None]).view(-1)
        if options.samples:
            picked = torch.multinomial(totals.softmax(dim=-1), 2 * beams, generator=generator)
            candidate_scores, order = totals[picked].sort(descending=True)
            picked = picked[order]
        else:
            candidate_scores, picked = totals.topk(2 * beams)
        rows, next_codes, next_scores = [], [], []
        for rank, (index, score) in enumerate(zip(picked.tolist(), candidate_scores.tolist(), strict=True)):
            row, code = divmod(index, vocab)
            if code == stop:
                if rank < beams:
                    finished.add(codes[row, : step - 1].clone(), score, step)
            else:
                rows.append(row)
                next_codes.append(code)
                next_scores.append(score)
            if len(rows) == beams:
                break
        done = finished.is_done(max(candidate_scores.tolist()), step)
        _move_histories(cache, codes, rows, prompt_length, step - 1)
        row_index = torch.tensor(rows, device=device)
        code_tensor = torch.tensor(next_codes, device=device)
        codes[:, : step - 1] = codes[row_index, : step - 1]
        codes[:, step - 1] = code_tensor
        seen = seen[row_index]
        seen[torch.arange(beams, device=device), code_tensor] = True
        beam_scores = torch.tensor(next_scores, dtype=torch.float32, device=device)
        if done or step == options.max_new_tokens:
            break
        logits = decode_step(model, code_tensor, step, prompt_length, cache)
    if not done:
        for row, score in enumerate(beam_scores.tolist()):
            finished.add(codes[row, :step].clone(), score, step)
    best = finished.best()
    if best.shape[0] < options.max_new_tokens:
        best = F.pad(best, (0, 1), value=stop)
    return best


def _move_histories(cache: KVCache, codes: Tensor, parents: list[int], prompt_length: int, generated: int) -> None:
    """Give row i the cached history of row ``parents[i]`` (HF reorders the whole cache by beam index).

    Only rows whose parent changed are copied, and only from the first code where the two histories differ: the
    cached keys and values of a position depend on the codes up to it alone, so a shared prefix is already in
    place. Beams mostly share a long prefix, so this moves a few positions per step instead of every row's whole
    history (at 200 codes, ~90 MB per step in float32, as much traffic as the int8 weights). codes: [B, ≥
    generated], row i's history before this step's reorder.
    """
    moved = [(row, parent) for row, parent in enumerate(parents) if parent != row]
    if not moved or generated == 0:
        return
    targets, sources = (list(side) for side in zip(*moved, strict=True))
    differs = codes[targets, :generated] != codes[sources, :generated]
    shared = torch.where(differs.any(dim=1), differs.int().argmax(dim=1), generated)
    start = prompt_length + int(shared.min())
    cache.copy_rows(targets, sources, start, prompt_length + generated)


def codes_before_stop(codes: Tensor, stop_token: int) -> Tensor:
    """The codes before the first stop token (all of them when there is none): what the back end consumes."""
    stops = (codes == stop_token).nonzero()
    return codes[: int(stops[0, 0])] if stops.numel() else codes
