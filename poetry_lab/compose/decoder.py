"""Writing one line: a batch of candidate lines sampled letter by letter, each held to known words,
to the line's syllable count and to its rhyme.

Every row of the batch is one candidate. At each step a row may write only a letter that keeps its
current word a prefix of some allowed word, a space or a punctuation mark only after a complete
word that leaves room in the line, and a newline only after a word that completes the line: one of
the allowed end words (the true rhymes of its partner, or any word of the right length) bringing
the syllables into range. Repeating a word pair already in the poem, or a content word already in
the line, is banned at the word's end. The model's own distribution picks among what is allowed, at
the asked temperature; the decoder also sums each row's log-probability under the unconstrained
model (temperature 1), which the composer uses to rank the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from poetry_lab.analysis.pronounce import FUNCTION_WORDS
from poetry_lab.compose.words import Lexicon, WordSet
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.core.model import State, join_parts, state_parts, state_rows
from poetry_lab.core.sampling import NumpyCell, SampleConfig, sample
from poetry_lab.core.vocab import Vocab

PUNCT = ",;:.!?"
STOPS = ".!?"  # the marks that end a sentence
SOUND_RUN = 3  # a line may hold at most SOUND_RUN - 1 content words that start with the same two letters
MAX_LINE_CHARS = 110  # a row still writing past this is dropped (a 14-syllable line is ~80 characters)


@dataclass
class LineSpec:
    """What the decoder must write: syllables lo..hi; the last word from `end_words` (None: any
    word, or with `rhymeable`=k any word with k true rhymes); no end word from `used_ends`; no word
    pair from `used_pairs` (the pair across the line break starts at `prev_word`)."""

    lo: int
    hi: int
    end_words: frozenset[str] | None = None
    rhymeable: int = 0
    feminine: bool = True  # a word that reaches hi > lo must end unstressed
    used_ends: frozenset[str] = frozenset()
    used_pairs: frozenset[tuple[str, str]] = frozenset()
    prev_word: str = ""
    closes: bool = False  # the line ends a sentence: its newline comes only after . ! or ?


@dataclass
class Draft:
    """One finished candidate line and the model's state after it: after its newline, or before the text `unread`
    (the word decoder leaves the newline to be read for the line that is kept: read_through())."""

    text: str
    words: list[str]
    logp: float  # natural-log probability of the line and its newline under the model at temperature 1
    chars: int
    state: State = field(repr=False, default_factory=list)  # the model's State as NumPy arrays, each (1, H)
    logits: np.ndarray | None = field(repr=False, default=None)  # (1, V) after the newline (None: `unread`)
    break_logp: float = 0.0  # the word writer's log-probability of the line's break after its last word (mark and newline); 0: not read
    worst_logp: float = 0.0  # the word writer's lowest log-probability of one word or mark of the line (a word that does not fit); 0: not read
    unread: str = ""  # what the state has yet to read of the line's end

    @property
    def bits_per_char(self) -> float:
        return -self.logp / max(self.chars, 1) / math.log(2)


@dataclass
class Start:
    """Where a batch of candidate lines begins: the model's state (NumPy, each array (1, H)) and logits
    (1, V) there, the line's spec, and the random draws (MAX_LINE_CHARS, rows): one per row and step."""

    state: State
    logits: np.ndarray
    spec: LineSpec
    uniforms: np.ndarray


class CharTable:
    """Which vocabulary ids are letters (by lowercase letter), spaces, punctuation and the newline."""

    def __init__(self, vocab: Vocab):
        self.size = len(vocab)
        self.lower = {c: [vocab.stoi[x] for x in dict.fromkeys((c, c.upper())) if x in vocab] for c in "abcdefghijklmnopqrstuvwxyz'"}
        self.space = vocab.stoi.get(" ", -1)
        self.newline = vocab.stoi.get("\n", -1)
        self.punct = [vocab.stoi[c] for c in PUNCT if c in vocab]
        self.stops = [vocab.stoi[c] for c in STOPS if c in vocab]
        self.char = {i: c for i, c in enumerate(vocab.chars)}


class _Row:
    """One candidate's progress through its line."""

    __slots__ = ("can_end", "can_go", "chars", "logp", "prefix", "punct", "syl", "words")

    def __init__(self):
        self.prefix, self.syl, self.words, self.chars, self.logp = "", 0, [], [], 0.0
        self.punct = ""  # the mark just written after the last word ("" if none)
        self.can_go, self.can_end = False, False  # after a complete word: what may follow


class LineDecoder:
    """Constrained batch decoding of one line at a time over a NumpyCell."""

    def __init__(self, cell: NumpyCell, vocab: Vocab, lexicon: Lexicon):
        self.cell, self.vocab, self.lex, self.table = cell, vocab, lexicon, CharTable(vocab)

    def _end_set(self, spec: LineSpec, syl: int, cache: dict) -> WordSet:
        """The words that may end the line after `syl` syllables."""
        a, b = max(spec.lo - syl, 1), spec.hi - syl
        weak_last = spec.feminine and spec.hi > spec.lo  # reaching hi takes a word that ends unstressed
        if (a, b) not in cache:
            if spec.end_words is None:
                cache[a, b] = self.lex.of_length(a, b, spec.rhymeable, weak_last)
            else:
                info = self.lex.info
                cache[a, b] = WordSet(w for w in spec.end_words if w in info and a <= info[w].syllables <= b and not (
                    weak_last and info[w].syllables == b and not info[w].stress.endswith("0")))
        return cache[a, b]

    def _go_set(self, spec: LineSpec, syl: int, min_end: int) -> WordSet:
        """The words that may come before the last: they leave room for the shortest end word."""
        room = spec.lo if spec.feminine else spec.hi  # the extra syllable is for an unstressed end only
        return self.lex.up_to(max(room - syl - min_end, 0))

    def _allowed(self, row: _Row, spec: LineSpec, cache: dict, min_end: int) -> list[int]:
        t = self.table
        if row.can_go or row.can_end:  # just after a complete word
            out = [t.space] if row.can_go else []
            if row.can_end and (not spec.closes or bool(row.punct) and row.punct in STOPS):
                out.append(t.newline)
            if not row.punct:
                out += t.punct if row.can_go or not spec.closes else t.stops
            return out
        go, end = self._go_set(spec, row.syl, min_end), self._end_set(spec, row.syl, cache)
        key = ("letters", row.syl, row.prefix)  # this line's sets depend only on the syllables so far
        if key not in cache:
            p = row.prefix
            nxt = sorted(set(go.next_letters(p)) | set(end.next_letters(p)) - ({"'"} if not p else set()))
            grows = [c for c in nxt if go.next_letters(p + c) or end.next_letters(p + c)]
            cache[key] = (grows, [c for c in nxt if c not in grows])  # (letters with more to come, last letters)
        grows, last = cache[key]
        # one letter of look-ahead: no letter that completes a word which may not stand here and goes no further
        letters = sorted(grows + [c for c in last if any(self._word_ok(row, spec, row.prefix + c, go, end))])
        out = [i for c in letters for i in t.lower[c]] if row.prefix == "" else [i for c in letters for i in t.lower[c][:1]]
        if row.prefix:
            go_ok, end_ok = self._word_ok(row, spec, row.prefix, go, end)
            if go_ok:
                out.append(t.space)
                out += t.punct
            if end_ok:
                if not spec.closes:
                    out.append(t.newline)
                if not go_ok:
                    out += t.stops if spec.closes else t.punct
        return out

    @staticmethod
    def _word_ok(row: _Row, spec: LineSpec, w: str, go: WordSet, end: WordSet) -> tuple[bool, bool]:
        """(may `w` go on the line, may it end the line) as the row's next word."""
        prev = row.words[-1] if row.words else spec.prev_word
        if (w not in FUNCTION_WORDS and (w in row.words or _sound_run(w, row.words))) or (prev, w) in spec.used_pairs:
            return False, False
        return w in go, w in end and w not in spec.used_ends

    def _advance(self, row: _Row, ch: str, spec: LineSpec, cache: dict, min_end: int) -> bool:
        """Apply one character to a row; True when the line is finished."""
        if ch == "\n":
            if row.prefix:
                row.words.append(row.prefix)
            return True
        if ch in PUNCT or ch == " ":
            if row.prefix:  # the word just ended: what may follow it
                w = row.prefix
                row.can_go, row.can_end = self._word_ok(row, spec, w, self._go_set(spec, row.syl, min_end),
                                                        self._end_set(spec, row.syl, cache))
                row.words.append(w)
                row.syl += self.lex.syllables(w)
                row.prefix = ""
            if ch == " ":
                row.can_go = row.can_end = False
                row.punct = ""
            else:
                row.punct = ch  # "day," may still go on or end the line
            return False
        row.prefix += ch.lower()
        return False

    def write(self, starts: list[Start], temperature: float | Sequence[float], min_p: float = 0.0) -> list[list[Draft]]:
        """The finished lines of each start, drafted together as one batch (one model step a letter for all
        of them): start g's rows begin from its state and logits and keep to its spec, at `temperature` (or
        the g-th of them); min_p as draw() takes it."""
        temperature = per_start(temperature, len(starts))
        groups = []  # per start: (spec, its look-up cache, the shortest end word's syllables)
        for start in starts:
            end_lens = [self.lex.info[w].syllables for w in start.spec.end_words or () if w in self.lex.info]
            groups.append((start.spec, {}, min(end_lens, default=1)))
        owner = np.concatenate([np.full(s.uniforms.shape[1], g) for g, s in enumerate(starts)]).astype(np.int64)
        column = np.concatenate([np.arange(s.uniforms.shape[1]) for s in starts])
        st = _stacked([state_rows(s.state, np.zeros(s.uniforms.shape[1], np.int64)) for s in starts])
        lg = np.concatenate([np.repeat(s.logits, s.uniforms.shape[1], 0) for s in starts])
        rows = [_Row() for _ in range(len(owner))]
        alive = list(range(len(owner)))  # row ids still writing, in the order of st/lg
        done: list[list[Draft]] = [[] for _ in starts]
        for step in range(MAX_LINE_CHARS):
            picks, keep = [], []
            for k, r in enumerate(alive):
                row = rows[r]
                spec, cache, min_end = groups[owner[r]]
                ids = self._allowed(row, spec, cache, min_end)
                if not ids:
                    continue  # a dead end: nothing known can follow
                z = lg[k]
                top = z.max()
                logz = top + math.log(np.exp(z - top).sum())
                sub = z[ids]
                j = draw(sub, starts[owner[r]].uniforms[step, column[r]], temperature[owner[r]], min_p)
                cid = ids[j]
                row.logp += float(sub[j] - logz)
                row.chars.append(self.table.char[cid])
                finished = self._advance(row, self.table.char[cid], spec, cache, min_end)
                picks.append(cid)
                keep.append((k, r, finished))
            if not picks:
                break
            idx = [k for k, _, _ in keep]
            st = state_rows(st, np.asarray(idx, dtype=np.int64))
            lg, st = self.cell.step(np.asarray(picks), st)
            next_alive, rest = [], []
            for n, (_, r, finished) in enumerate(keep):
                if finished:
                    row = rows[r]
                    done[owner[r]].append(Draft("".join(row.chars).rstrip("\n"), row.words, row.logp, len(row.chars),
                                                state_rows(st, np.asarray([n], dtype=np.int64)), lg[n:n + 1].copy()))
                else:
                    next_alive.append(r)
                    rest.append(n)
            if len(rest) < len(keep):
                st = state_rows(st, np.asarray(rest, dtype=np.int64))
                lg = lg[rest]
            alive = next_alive
            if not alive:
                break
        return done


def read_through(writer, draft: Draft) -> tuple:
    """The writer's (state, logits) after the draft's line and its newline."""
    return writer.feed(draft.state, draft.logits, draft.unread) if draft.unread else (draft.state, draft.logits)


def per_start(temperature: float | Sequence[float], starts: int) -> list[float]:
    """A decoder's temperature for each of its `starts`: one for all, or one each."""
    found = [float(temperature)] * starts if isinstance(temperature, (int, float)) else [float(t) for t in temperature]
    if len(found) != starts:
        raise ValueError(f"{len(found)} temperatures for {starts} starts")
    return found


def draw(scores: np.ndarray, u: float, temperature: float, min_p: float = 0.0) -> int:
    """The index drawn from `scores` (log-probabilities of what is allowed) at `temperature`: the inverse of their
    cumulative distribution at the uniform number `u`; the largest at temperature 0. Both decoders draw with it.
    min_p (min-p sampling, Nguyen et al. 2024): what is less than min_p times as likely as the likeliest (by
    `scores`, before the temperature) is not drawn."""
    return Draw(scores, temperature, min_p).at(u)


class Draw:
    """draw()'s distribution, built once and read at any number of uniform numbers (draw_rows' fallback, one row at a
    time, reads one)."""

    __slots__ = ("best", "cdf")

    def __init__(self, scores: np.ndarray, temperature: float, min_p: float = 0.0):
        self.cdf, self.best = None, 0
        if temperature <= 0:
            self.best = int(scores.argmax())
            return
        shifted = scores - scores.max()
        weights = np.exp(shifted * (1.0 / max(temperature, 1e-6)))
        if min_p > 0:
            weights[shifted < math.log(min_p)] = 0.0
        # torch's sum over 16,000 words takes a third of NumPy's time; over a character vocabulary its call costs more
        self.cdf = np.cumsum(weights) if len(weights) < 1024 else torch.cumsum(torch.from_numpy(weights), 0).numpy()

    def at(self, u: float) -> int:
        if self.cdf is None:
            return self.best
        return min(int(np.searchsorted(self.cdf, u * self.cdf[-1], side="right")), len(self.cdf) - 1)


BLOCK = 128  # draw_rows sums the weights in blocks of this many columns, then searches one block


def work_columns(columns: int) -> int:
    """The width of draw_rows' buffer for `columns` columns: whole blocks."""
    return -(-columns // BLOCK) * BLOCK


def draw_rows(scores: np.ndarray, allowed: np.ndarray, temperature: np.ndarray, which: np.ndarray, u: np.ndarray,
              min_p: float = 0.0, last: np.ndarray | None = None, work: torch.Tensor | None = None) -> np.ndarray:
    """Draw.at for many rows at once, as (P, V) arrays: draw i reads row which[i] of `scores` over the columns
    that row of `allowed` holds, at u[i] and temperature[which[i]], the columns taken in order of number except that
    those in `last` come after all the others, in their order (the draw a Draw over those ids so listed gives, to
    rounding). -1 where a row allows nothing. The weights are made for all rows in a few passes (shifted by each
    row's largest score, allowed or not); a row whose allowed weights come near underflow, a temperature of 0
    and a rounding that lands off what is allowed are drawn one by one by Draw. `work`: a float32 buffer of at least
    (P, work_columns(V)) to make the weights in, for a caller that draws many times (memory touched the first time
    costs more than the arithmetic)."""
    P, V = scores.shape
    last = np.zeros(0, np.int64) if last is None else last
    nb = work_columns(V) // BLOCK
    w = torch.empty(P, nb * BLOCK) if work is None else work[:P]
    w[:, V:] = 0.0
    wv = w[:, :V]
    z = torch.from_numpy(scores)
    inv = torch.from_numpy((1.0 / np.maximum(temperature, 1e-6)).astype(np.float32))[:, None]
    # exp below -87 gives denormal numbers, which this CPU makes ten times slower; held there, a weight is 1.6e-38 of the top
    torch.addcmul(-z.amax(1, keepdim=True) * inv, z, inv, out=wv).clamp_(min=-87.0).exp_()
    wv.mul_(torch.from_numpy(allowed))
    tail = wv[:, last]
    wv[:, last] = 0.0
    top = torch.maximum(wv.amax(1), tail.amax(1)) if len(last) else wv.amax(1)
    if min_p > 0:
        cut = (top * torch.from_numpy(np.float32(min_p) ** inv.numpy()[:, 0]))[:, None]
        wv.masked_fill_(wv < cut, 0.0)
        tail.masked_fill_(tail < cut, 0.0)
    ends = w.view(P, nb, BLOCK).sum(2).double().cumsum(1)  # (P, nb) the weight up to each block's end
    words = ends[:, -1]
    tails = words[:, None] + tail.double().cumsum(1)  # (P, len(last))
    total = tails[:, -1] if len(last) else words
    q = torch.from_numpy(np.asarray(which, np.int64))
    t = torch.from_numpy(np.asarray(u, np.float64)) * total[q]
    out = np.full(len(q), -1, np.int64)
    in_words = (t < words[q]).numpy()
    if in_words.any():
        qw, tw = q[in_words], t[in_words][:, None]
        e = ends[qw]
        k = torch.searchsorted(e, tw, right=True)[:, 0].clamp_(max=nb - 1)
        base = torch.where(k > 0, e.gather(1, (k - 1).clamp(min=0)[:, None])[:, 0], 0.0)
        cols = k[:, None] * BLOCK + torch.arange(BLOCK)
        c = base[:, None] + w[qw[:, None], cols].double().cumsum(1)
        j = torch.searchsorted(c, tw, right=True)[:, 0].clamp_(max=BLOCK - 1)
        out[in_words] = (k * BLOCK + j).numpy()
    if len(last) and not in_words.all():
        qt = q[~in_words]
        j = torch.searchsorted(tails[qt], t[~in_words][:, None], right=True)[:, 0].clamp_(max=len(last) - 1)
        out[~in_words] = last[j.numpy()]
    qn = q.numpy()
    valid = np.flatnonzero(out >= 0)
    valid = valid[out[valid] < V]
    fine = np.zeros(len(out), bool)
    fine[valid] = allowed[qn[valid], out[valid]] > 0
    fine &= (top[q] > 1e-20).numpy() & (temperature[qn] > 0)
    for i in np.flatnonzero(~fine):  # one by one, exactly: few or none a step
        row = allowed[qn[i]] > 0
        tail_ids = last[row[last]]
        row[last] = False
        ids = np.concatenate([np.flatnonzero(row), tail_ids])
        out[i] = ids[Draw(scores[qn[i], ids], float(temperature[qn[i]]), min_p).at(float(u[i]))] if len(ids) else -1
    return out


class CharWriter:
    """The character model as the composer's writer: its fast cell, the line decoder over it, reading text, plain sampling.
    (poetry_lab.compose.word_decoder.WordWriter is the same for the word-level writer.)"""

    def __init__(self, bundle: ModelBundle, lexicon: Lexicon):
        self.bundle = bundle
        self.cell = NumpyCell(bundle.model)  # reads the weights (to the CPU); the shared model stays as it is
        self.decoder = LineDecoder(self.cell, bundle.vocab, lexicon)

    def feed(self, state, logits, text: str):
        """The model's (state, logits) after reading `text` from (state, logits) (None: from the start), one row."""
        if state is None:
            state = self.cell.zero_state(1)
        for i in self.bundle.vocab.encode(text):
            logits, state = self.cell.step(np.asarray([i]), state)
        return state, logits

    def raw(self, prompt: str, lines: int, temperature: float, seed: int) -> str:
        """Plain sampling: `prompt` and `lines` more lines from the bare model, nothing held to form."""
        return sample(self.bundle.model, self.bundle.vocab, prompt, SampleConfig(
            temperatures=(temperature,), max_chars=120 * max(lines, 1), lines=lines, seed=seed))[0].text


def _stacked(states: list[State]) -> State:
    """Several states of the same layout as one: their rows one after another."""
    return [join_parts(tuple(np.concatenate(arrays) for arrays in zip(*(state_parts(s[layer]) for s in states))))
            for layer in range(len(states[0]))]


def _sound_run(word: str, earlier: list[str]) -> bool:
    """Whether `word` would be the SOUND_RUN-th content word of its line to start with the same two letters
    ("strength, straight, still...": the loop a low temperature falls into)."""
    head = word[:2]
    return sum(w[:2] == head and w not in FUNCTION_WORDS for w in earlier) >= SOUND_RUN - 1
