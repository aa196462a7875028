"""A closer look at generated poems: the model's confidence per character, where it copied from its
training text, and a temperature sweep; plus the HTML renderers for the first two (no gradio here).

The HTML is self-contained (inline styles) and every piece of poem text is escaped, so a poem that
contains "<script>" shows as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from poetry_lab.analysis.metrics import (
    CorpusIndex,
    copied_ngram_share,
    copy_end,
    distinct_n,
)
from poetry_lab.analysis.poetics import analyse_poem
from poetry_lab.analysis.pronounce import in_dictionary
from poetry_lab.core.defaults import DEFAULT_SEED, SWEEP_TEMPERATURES
from poetry_lab.core.model import CharLSTM
from poetry_lab.core.sampling import Sample, SampleConfig, sample
from poetry_lab.core.vocab import Vocab
from poetry_lab.data.text import words
from poetry_lab.errors import PoetryLabError

SWEEP_COLUMNS = ["temperature", "sample", "bits_per_char", "copied_4gram_share", "distinct_2",
                 "real_word_share", "metre_score", "text"]
MAX_SWEEP_SAMPLES = 200  # temperatures x samples: a few minutes on a small CPU at most
PREVIEW_CHARS = 900  # longest corpus passage shown around a copy


@dataclass(frozen=True)
class CharConfidence:
    """One generated character and the probability the model gave it."""

    char: str
    prob: float
    unknown: bool  # the model never saw this character (prob is then that of the unknown symbol)
    top: list[tuple[str, float]]  # the likeliest characters, most likely first (the actual one may be among them)


@dataclass(frozen=True)
class CopiedPassage:
    """A passage of a generated text found verbatim in the training text."""

    start: int  # offsets in the generated text
    end: int
    text: str
    corpus_start: int  # its first occurrence in the training text
    source: str  # the poem around it (a blank-line block), cut to PREVIEW_CHARS
    source_start: int  # where `source` starts in the training text


@torch.inference_mode()
def char_confidence(model: CharLSTM, vocab: Vocab, text: str, prompt_len: int = 0, top: int = 3) -> list[CharConfidence]:
    """For each character of `text` after the first `prompt_len`: the probability the model gave it.

    One forward pass over "\\n\\n" + text (the context sampling starts from), at temperature 1, with
    the `top` likeliest characters at each step. The model is left in the mode it was in.
    """
    if not 0 <= prompt_len <= len(text):
        raise PoetryLabError("The prompt cannot be longer than the text.")
    if not text[prompt_len:]:
        return []
    lead = "".join(c for c in "\n\n" if c in vocab) or vocab.chars[0]
    device = next(model.parameters()).device
    ids = torch.as_tensor(vocab.encode(lead + text), device=device).unsqueeze(0)  # (1, L + T)
    was_training = model.training
    model.eval()
    try:
        logits, _, _ = model(ids[:, :-1])  # (1, L + T - 1, V): position k predicts character k + 1
    finally:
        model.train(was_training)
    first = len(lead) - 1 + prompt_len
    probs = F.softmax(logits[0, first:].float(), dim=-1).cpu()  # (N, V), N = len(text) - prompt_len
    target = ids[0, first + 1:].cpu()
    chosen = probs.gather(1, target.unsqueeze(1)).squeeze(1)
    top_p, top_i = probs.topk(min(max(top, 0), probs.size(1)), dim=-1)
    chars = vocab.chars
    return [CharConfidence(c, float(p), c not in vocab, [(chars[int(i)], float(q)) for q, i in zip(tp, ti)])
            for c, p, tp, ti in zip(text[prompt_len:], chosen.tolist(), top_p.tolist(), top_i.tolist())]


def _trim_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so it neither starts nor ends inside a word, nor with blank space."""
    while start < end and start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start += 1
    while end > start and end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _source_preview(corpus: str, at: int, length: int) -> tuple[int, str]:
    """(start, text) of the blank-line block of the corpus around a match, cut to PREVIEW_CHARS."""
    lo = corpus.rfind("\n\n", 0, at)
    lo = 0 if lo < 0 else lo + 2
    hi = corpus.find("\n\n", at + length)
    hi = len(corpus) if hi < 0 else hi
    if hi - lo > PREVIEW_CHARS:  # a long block: a window centred on the match
        lo = max(lo, at + length // 2 - PREVIEW_CHARS // 2)
        hi = min(hi, lo + PREVIEW_CHARS)
    return lo, corpus[lo:hi]


def copy_highlights(generated: str, index: CorpusIndex | str, min_chars: int = 20) -> list[CopiedPassage]:
    """The passages of `generated`, at least `min_chars` long, that occur verbatim in the corpus.

    Maximal and non-overlapping, found left to right by growing a window with
    metrics.copy_end, then trimmed to whole words.
    """
    if min_chars < 1:
        raise PoetryLabError("A copy must be at least 1 character long.")
    corpus = index.text if isinstance(index, CorpusIndex) else index
    out, i, n = [], 0, len(generated)
    while i + min_chars <= n:
        end = copy_end(generated, i, corpus, min_chars)
        if end == i:
            i += 1
            continue
        s, e = _trim_to_words(generated, i, end)
        if e - s >= min_chars:
            at = corpus.find(generated[s:e])
            lo, source = _source_preview(corpus, at, e - s)
            out.append(CopiedPassage(s, e, generated[s:e], at, source, lo))
        i = end
    return out


def real_word_share(text: str, index: CorpusIndex | None = None) -> float | None:
    """Share of the words of `text` found in the corpus or the CMU dictionary; None without words."""
    ws = words(text)
    if not ws:
        return None
    seen = index.ngram_set(1) if index is not None else frozenset()
    return sum((w,) in seen or in_dictionary(w) for w in ws) / len(ws)


def _row(s: Sample, k: int, index: CorpusIndex | None) -> dict:
    text = s.continuation
    share = copied_ngram_share(text, index) if index is not None else None
    return {"temperature": s.temperature, "sample": k, "bits_per_char": s.bits_per_char,
            "copied_4gram_share": share, "distinct_2": distinct_n(text, 2),
            "real_word_share": real_word_share(text, index), "metre_score": analyse_poem(text).metre_score,
            "text": text}


def sweep(model: CharLSTM, vocab: Vocab, temperatures: Sequence[float] = SWEEP_TEMPERATURES,
          samples_per_temperature: int = 5, chars: int = 400, seed: int | None = DEFAULT_SEED,
          index: CorpusIndex | None = None, prompt: str = "") -> pd.DataFrame:
    """Poems at each temperature and their metrics: one row per poem, columns SWEEP_COLUMNS.

    Sample k of every temperature comes from one batched sample() call with seed `seed + k`, so
    rows with the same k share their random draws and differ only by temperature. Metrics are
    measured on the generated text only (not the prompt); copied_4gram_share is None without an
    index, and a metric is None where the text is too short to measure it.
    """
    temps = tuple(float(t) for t in temperatures)
    if samples_per_temperature < 1 or len(temps) * samples_per_temperature > MAX_SWEEP_SAMPLES:
        raise PoetryLabError(f"Ask for at least one poem per temperature and at most {MAX_SWEEP_SAMPLES} poems in all.")
    base = torch.Generator().seed() % 2**31 if seed is None else int(seed)  # None: a fresh seed
    rows = []
    for k in range(samples_per_temperature):
        cfg = SampleConfig(temperatures=temps, max_chars=chars, seed=base + k)
        rows += [_row(s, k, index) for s in sample(model, vocab, prompt, cfg)]
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)
