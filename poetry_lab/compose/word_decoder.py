"""Writing one line with the word-level writer: a batch of candidate lines sampled word by word, held
to the same LineSpec as the character decoder (poetry_lab.compose.decoder) keeps.

At each step a row may write a known word whose syllables leave room for the line's last word, or a
word that ends the line (an allowed end word bringing the syllables into range), a mark after a word
(not after "the", "and", "of"...: a line never breaks off on them), and the newline after an end word
(after . ! or ? where the line ends a sentence). A list of more than MAX_LISTED items after its first (a
determiner after a comma: "the sun, the stars, the sky"), a content word once in a line, the same word twice
in a row, a word pair already in the poem and a third content word on the same two letters are
banned. What each row may write is a mask over the whole vocabulary (the syllables' part built once a line for each
count), and one step's draws are made for every row together (poetry_lab.compose.decoder.draw_rows: a few passes
over a (rows, vocabulary) array, not a dozen NumPy calls a row). The model's own distribution picks among what is
allowed, at the asked temperature (each start its own), with a subject's bias (poetry_lab.compose.subject) added to
its related words; each row's log-probability under the unconstrained model (temperature 1, no bias) is summed for
the composer's ranking. Rows that have written the same tokens from the same start share one model step, one mask
and one distribution, and each draws with its own number: a low temperature's candidates cost little more than one.

A planning writer (WordConfig.plans) reads each line led by its last word. Its rows first draw that word,
the line's plan, from the allowed ends (as Hafez chooses its rhyme words first), then write a line toward
it: the other words leave room for it, and the line ends when it is written. The plan is read, not shown.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import numpy as np
import torch

from poetry_lab.analysis.pronounce import FUNCTION_WORDS
from poetry_lab.compose.decoder import SOUND_RUN, Draft, LineSpec, Start, draw_rows, per_start, work_columns
from poetry_lab.compose.subject import FAVOURED_PER_LINE, Neighbours, Subject
from poetry_lab.compose.words import NO_END, Lexicon
from poetry_lab.core.checkpoint import WriterBundle
from poetry_lab.core.wordmodel import MARKS, STOPS, WordCell, WordVocab, shown, stacked_words, word_rows

_NEIGHBOURS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # writer model -> its Neighbours
_SHARED_LOCK = threading.Lock()
MAX_LINE_TOKENS = 32  # a row still writing past this is dropped (a 14-syllable line is about 12 words)
# A line lists at most this many items after its first, each a determiner after a comma: blind readers rated the
# catalogues the ranking liked ("The sun, the stars, the clouds, the sky, the blue") 1.0-1.7 of 5 (2026-12-03).
MAX_LISTED = 1
DETERMINERS = frozenset("the a an my thy his her its our your their this these those".split())


class WordTable:
    """What the decoder asks of each vocabulary id, as arrays: syllables, known word, may end a line, marks."""

    def __init__(self, vocab: WordVocab, lexicon: Lexicon, rhymeable: int):
        tokens, info = vocab.tokens, lexicon.info
        self.vocab, self.lex = vocab, lexicon
        self.known = np.array([i > 0 and w in info for i, w in enumerate(tokens)])
        self.syl = np.array([info[w].syllables if k else 0 for w, k in zip(tokens, self.known)], np.int64)
        self.weak_last = np.array([k and info[w].stress.endswith("0") for w, k in zip(tokens, self.known)])
        self.ends = np.array([k and lexicon.ends_line(w) for w, k in zip(tokens, self.known)])
        self.rhymeable = np.array([e and lexicon.rhyme_count(w) >= rhymeable for w, e in zip(tokens, self.ends)])
        self.mark = np.array([w in MARKS for w in tokens])
        self.stop = np.array([w in STOPS for w in tokens])
        self.function = np.array([w in FUNCTION_WORDS for w in tokens])
        self.no_mark_after = np.array([w in NO_END for w in tokens])
        self.determiner = np.array([w in DETERMINERS for w in tokens])
        self.head_code: dict[str, int] = {}  # a word's first two letters, as a number (the sound-run ban)
        self.head = np.array([self.head_code.setdefault(w[:2], len(self.head_code)) if k else -1 for w, k in zip(tokens, self.known)])
        self.mark_ids = np.flatnonzero(self.mark)
        self.stop_ids = np.flatnonzero(self.stop)
        self.determiner_ids = np.flatnonzero(self.determiner)
        self.last = np.append(self.mark_ids, vocab.newline)  # drawn after the words, in this order (draw_rows)

    def ids(self, words) -> np.ndarray:
        return np.fromiter((self.vocab.stoi[w] for w in words if w in self.vocab.stoi), dtype=np.int64)


class _Spec:
    """One LineSpec as masks over the vocabulary."""

    def __init__(self, spec: LineSpec, t: WordTable):
        self.spec = spec
        if spec.end_words is None:
            end = t.rhymeable.copy() if spec.rhymeable else t.ends.copy()
        else:
            end = np.zeros(len(t.known), bool)
            end[t.ids(spec.end_words)] = True
            end &= t.known
        end[t.ids(spec.used_ends)] = False
        self.end = end
        lengths = t.syl[end]
        self.min_end = int(lengths.min()) if len(lengths) else 1
        self.room = spec.lo if spec.feminine else spec.hi  # the extra syllable is for an unstressed end only
        self.weak_last = spec.feminine and spec.hi > spec.lo
        self.pairs: dict[str, np.ndarray] = {}
        for a, b in spec.used_pairs:
            self.pairs.setdefault(a, []).append(b)
        self.pairs = {a: t.ids(bs) for a, bs in self.pairs.items()}
        self.fits: dict[tuple[int, int, int], np.ndarray] = {}  # (syllables, plan, cap) -> the words that count allows (1.0)


class _Row:
    __slots__ = ("after", "can_end", "can_go", "cap", "content", "favoured", "heads", "listed", "logp", "runs", "syl", "target",
                 "tokens", "words", "worst")

    def __init__(self):
        self.tokens: list[str] = []
        self.words: list[str] = []
        self.content: list[int] = []  # the ids of the content words written (each once in a line)
        self.heads: dict[int, int] = {}  # how many content words start with each two letters (WordTable.head)
        self.runs: list[int] = []  # the two letters SOUND_RUN - 1 content words start with: no third
        self.syl, self.logp = 0, 0.0
        self.worst = 0.0  # the lowest log-probability of one word or mark written (the line's worst surprise)
        self.after = 0.0  # log-probability of what followed the latest word (at the end: the line's break)
        self.favoured = 0  # words written that the subject's bias favours
        self.listed = 0  # determiners written after a comma ("the sun, the stars, the sky": a list)
        self.can_go, self.can_end = True, False  # what may follow the tokens so far: more words, the line's end
        self.target, self.cap = -1, 0  # a planning writer's planned end word (its id) and the line's most syllables with it


class WordLineDecoder:
    """Constrained batch decoding of one line at a time over a WordCell; the same write() as LineDecoder."""

    def __init__(self, cell: WordCell, vocab: WordVocab, lexicon: Lexicon, rhymeable: int):
        self.cell, self.vocab, self.table = cell, vocab, WordTable(vocab, lexicon, rhymeable)
        self.plans = cell.model.config.plans

    def _plans(self, s: _Spec) -> tuple[np.ndarray, np.ndarray]:
        """What a planning writer's row may choose as its line's end word (V,) (the allowed ends that fit the line), and
        (V,) the most syllables a line ending on each word may have: hi, or hi - 1 for a stressed end where the
        line's extra syllable is for an unstressed end only (the rule _fits keeps for an unplanned line)."""
        t, hi = self.table, s.spec.hi
        caps = np.where(t.weak_last, hi, hi - 1) if s.weak_last else np.full(len(t.known), hi)
        return s.end & (t.syl >= 1) & (t.syl <= caps), caps

    def _fits(self, row: _Row, s: _Spec) -> np.ndarray:
        """(V,) 1 for the words the row's syllables allow next: those that leave room for the line's end and the ends that bring
        it into range (for a planned line: those that leave room for its end word, and that word once in range). The same
        for every row of the spec at that count, so built once a line (read-only)."""
        key = (row.syl, row.target, row.cap)
        ok = s.fits.get(key)
        if ok is not None:
            return ok
        t, spec = self.table, s.spec
        if row.target >= 0:
            total = row.syl + int(t.syl[row.target])
            ok = t.known & (t.syl <= row.cap - total)
            ok[row.target] = spec.lo <= total <= row.cap
        else:
            go = t.known & (t.syl <= s.room - row.syl - s.min_end)
            a, b = max(spec.lo - row.syl, 1), spec.hi - row.syl
            end = s.end & (t.syl >= a) & (t.syl <= b)
            if s.weak_last:
                end &= (t.syl < b) | t.weak_last
            ok = go | end
        ok = ok.astype(np.float32)
        ok.flags.writeable = False
        s.fits[key] = ok
        return ok

    def _allowed(self, lead: dict[int, int], rows: list[_Row], specs: list[_Spec], owner: np.ndarray, out: np.ndarray) -> None:
        """`out` (prefixes, V) filled with 1.0 where a prefix (lead[prefix]: its first row) may go on, else 0. A word the
        syllables allow (_fits) less the line's bans, if more words may come; after a word (not one of NO_END) a mark
        (only . ! or ? where the line closes a sentence and must end); the newline where the line may end (after . ! or ?
        where it closes). A prefix no row is on allows nothing."""
        t, newline = self.table, self.vocab.newline
        idle = np.ones(len(out), bool)
        idle[list(lead)] = False
        out[idle] = 0.0
        banned_at, banned = [], []  # (prefix, id) pairs no word may take
        marks, stops, ends = [], [], []  # the prefixes that may take a mark, only a stop, the newline
        for q, r in lead.items():
            row, s = rows[r], specs[owner[r]]
            spec = s.spec
            last = row.tokens[-1] if row.tokens else ""
            if not row.can_go:
                out[q] = 0.0
            else:
                out[q] = self._fits(row, s)
                ids = list(row.content)
                if row.runs:
                    out[q] *= ~np.isin(t.head, row.runs) | t.function
                if last:
                    ids.append(self.vocab.stoi.get(last, 0))
                    if last == "," and row.listed >= MAX_LISTED:
                        ids.extend(t.determiner_ids.tolist())
                pairs = s.pairs.get(row.words[-1] if row.words else spec.prev_word)
                if pairs is not None:
                    ids.extend(pairs.tolist())
                banned_at.extend([q] * len(ids))
                banned.extend(ids)
            if last in MARKS:
                if row.can_end and (not spec.closes or last in STOPS):
                    ends.append(q)
                continue
            if last and not t.no_mark_after[self.vocab.stoi[last]]:
                (stops if spec.closes and not row.can_go else marks).append(q)
            if row.can_end and not spec.closes and last:
                ends.append(q)
        out[banned_at, banned] = 0.0
        out[np.ix_(marks, t.mark_ids)] = 1.0
        out[np.ix_(stops, t.stop_ids)] = 1.0
        out[ends, newline] = 1.0

    def _advance(self, row: _Row, token: str, s: _Spec) -> None:
        t = self.table
        row.listed += token in DETERMINERS and bool(row.tokens) and row.tokens[-1] == ","
        row.tokens.append(token)
        if token in MARKS:
            return
        i = self.vocab.stoi[token]
        row.words.append(token)
        row.syl += int(t.syl[i])
        if not t.function[i]:
            row.content.append(i)
            h = int(t.head[i])
            row.heads[h] = n = row.heads.get(h, 0) + 1
            if n == SOUND_RUN - 1:
                row.runs.append(h)
        spec = s.spec
        if row.target >= 0:
            row.can_end = i == row.target  # the plan written: the line ends (a mark, then the newline)
            row.can_go = not row.can_end
            return
        row.can_end = bool(s.end[i]) and spec.lo <= row.syl <= spec.hi
        row.can_go = row.syl <= s.room - s.min_end

    def write(self, starts: list[Start], temperature: float | Sequence[float], bias: np.ndarray | None = None,
              min_p: float = 0.0) -> list[list[Draft]]:
        """The finished lines of each start, drafted together as one batch (one model step a word for all of them), at
        `temperature` (or for start g the g-th); `bias` (V,), or (len(starts), V) for each start its own, where given, is
        added to the log-probabilities a row samples from (not to those it sums) until the row holds FAVOURED_PER_LINE
        favoured words; min_p as draw() takes it."""
        temperature = np.asarray(per_start(temperature, len(starts)))
        pulls = None if bias is None else np.broadcast_to(bias, (len(starts), len(self.vocab.tokens)))  # each start's bias
        specs = [_Spec(st.spec, self.table) for st in starts]
        owner = np.concatenate([np.full(st.uniforms.shape[1], g) for g, st in enumerate(starts)]).astype(np.int64)
        uniforms = np.concatenate([st.uniforms for st in starts], axis=1)  # (steps, rows)
        state = stacked_words([st.state for st in starts])
        logp = np.concatenate([st.logits for st in starts])
        rows = [_Row() for _ in range(len(owner))]
        alive = list(range(len(owner)))
        done: list[list[Draft]] = [[] for _ in starts]
        plans = [self._plans(s) for s in specs] if self.plans else None
        newline, tokens = self.vocab.newline, self.vocab.tokens
        # the step's masks and weights, made in the same memory each step (first touching it costs more than the arithmetic)
        masks = np.empty((len(owner), len(tokens)), np.float32)
        work = torch.empty(len(owner), work_columns(len(tokens)))
        # Rows that have written the same tokens from the same start are one prefix (`at`: its row of state and logp):
        # the model steps once for it and what it may write next is worked out once; each row draws with its own
        # number. At 0.2 half the rows of 32 candidates share their prefix, at 0.8 one in seven.
        at = owner.copy()
        for step in range(MAX_LINE_TOKENS):
            planning = plans is not None and step == 0
            lead: dict[int, int] = {}  # prefix -> its first row
            for r in alive:
                lead.setdefault(int(at[r]), r)
            prefixes, leads = np.fromiter(lead.keys(), np.int64, len(lead)), np.fromiter(lead.values(), np.int64, len(lead))
            allowed = masks[: len(logp)]
            if planning:
                allowed[:] = 0.0
                allowed[prefixes] = np.stack([plans[g][0] for g in owner[leads]])
            else:
                self._allowed(lead, rows, specs, owner, allowed)
            scores = logp
            steered = [] if pulls is None else [k for k, r in enumerate(leads) if rows[r].favoured < FAVOURED_PER_LINE]
            if steered:
                scores = logp.copy()
                scores[prefixes[steered]] += pulls[owner[leads[steered]]]
            heat = np.ones(len(logp))
            heat[prefixes] = temperature[owner[leads]]
            which = at[alive]
            picked = draw_rows(scores, allowed, heat, which, uniforms[step, alive], min_p, self.table.last, work)
            got = logp[which, np.maximum(picked, 0)].tolist()
            picks, keep = [], []  # (prefix, token) of each row kept, in order; (row, finished)
            for r, cid, lp, p in zip(alive, picked.tolist(), got, which.tolist()):
                if cid < 0:
                    continue  # nothing may follow: the row is dropped
                row = rows[r]
                row.logp += lp
                last = row.tokens[-1] if row.tokens else ""
                if last and last not in MARKS:
                    row.after = lp
                elif last and cid == newline:
                    row.after += lp
                finished = cid == newline
                if planning:  # the plan is counted as favoured where it is written, at the line's end
                    row.target, row.cap = cid, int(plans[owner[r]][1][cid])
                else:
                    row.favoured += bool(pulls is not None and pulls[owner[r], cid] > 0)
                    if not finished:
                        row.worst = min(row.worst, lp)
                        self._advance(row, tokens[cid], specs[owner[r]])
                picks.append((p, cid))
                keep.append((r, finished))
            if not picks:
                break
            # A finished line is not read to its end here: its newline is read by whoever keeps it (Draft.unread), one
            # line a poem where the model would step every finished row.
            alive, prefix_of = [], {}
            for n, (r, finished) in enumerate(keep):
                if finished:
                    row = rows[r]
                    text = shown(row.tokens, self.table.lex.proper)
                    done[owner[r]].append(Draft(text, row.words, row.logp, len(text) + 1, word_rows(state, [at[r]]), None,
                                                row.after, row.worst, unread="\n"))
                else:
                    at[r] = prefix_of.setdefault(picks[n], len(prefix_of))
                    alive.append(r)
            if not alive:
                break
            state = word_rows(state, [p for p, _ in prefix_of])
            logp, state = self.cell.step(np.asarray([c for _, c in prefix_of]), state)
        return done


class WordWriter:
    """The word-level writer as the composer's writer (as poetry_lab.compose.decoder.CharWriter is for the
    character model): its cell, the line decoder over it, reading text, plain sampling."""

    def __init__(self, bundle: WriterBundle, lexicon: Lexicon, rhymeable: int):
        self.bundle = bundle
        self.cell = WordCell(bundle.model)
        self.decoder = WordLineDecoder(self.cell, bundle.vocab, lexicon, rhymeable)
        self._neighbours: Neighbours | None = None

    def neighbours(self) -> Neighbours:
        """Related words over this writer's vocabulary, built on first use (16,000 vectors normalised, ~80 ms): known
        content words among the commonest (the head's wider bands)."""
        if self._neighbours is None:
            t, model = self.decoder.table, self.bundle.model
            with _SHARED_LOCK:  # one per writer model in the process (16 MB for the shipped writer), not one per session
                found = _NEIGHBOURS.get(model)
                if found is None:
                    # the rarest band's vectors are the narrowest (16 wide in the shipped writer): too coarse for neighbours
                    common = np.arange(len(t.known)) < model.config.cutoffs[-1]
                    found = _NEIGHBOURS[model] = Neighbours(model.word_vectors().numpy(), self.bundle.vocab.tokens,
                                                            t.known & ~t.function & common)
            self._neighbours = found
        return self._neighbours

    def subject(self, about: str) -> Subject:
        """The subject `about` as this writer reads it (poetry_lab.compose.subject)."""
        return self.neighbours().subject(about)

    def feed(self, state, logits, text: str):
        """The writer's (state, log-probabilities) after reading `text` (its words outside the vocabulary
        read as <unk>) from (state, logits) (None: from the start), one row."""
        if state is None:
            state = self.cell.zero_state(1)
        found, state = self.cell.feed(self.bundle.encode(text), state)
        return state, logits if found is None else found

    def raw(self, prompt: str, lines: int, temperature: float, seed: int) -> str:
        """Plain sampling: `prompt` and `lines` more lines from the bare writer, word by word, nothing held to form."""
        vocab = self.bundle.vocab
        state, logp = self.feed(None, None, "\n\n" + prompt)
        rng = np.random.default_rng(seed)
        out: list[list[str]] = [[]]
        plans = self.bundle.model.config.plans
        plan = plans  # a planning writer's first word of each line is its plan, read but not shown
        for _ in range(40 * max(lines, 1)):
            z = logp[0].astype(np.float64)
            z[0] = -np.inf  # <unk> is never written
            if temperature <= 0:
                j = int(z.argmax())
            else:
                p = np.exp((z - z.max()) / temperature)
                j = int(rng.choice(len(p), p=p / p.sum()))
            if j == vocab.newline:
                if out[-1]:
                    out.append([])
                    if len(out) > lines:
                        break
                plan = plans
            elif plan and vocab.tokens[j] not in MARKS:
                plan = False
            else:
                out[-1].append(vocab.tokens[j])
            logp, state = self.cell.step(np.asarray([j]), state)
        written = [shown(line, self.decoder.table.lex.proper) for line in out if line][:lines]
        return "".join(ln.strip() + "\n" for ln in prompt.splitlines() if ln.strip()) + "\n".join(written)
