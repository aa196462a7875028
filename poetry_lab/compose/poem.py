"""compose(): a poem in a form, written line by line with the poet.

Each line is drafted as a batch of candidates by a constrained decoder and the best is kept: by the
model's word-level writer where it has one (poetry_lab.compose.word_decoder: the shipped base's writer,
or a run's fine-tuned writer), else by the character model itself (poetry_lab.compose.decoder). The
ranking is the same for both: the model's own likelihood of the line (bits per character, unconstrained, at
temperature 1) plus its fit to the form's metre, among the candidates that are not copied from the
training text and do not repeat an earlier line. A line in a rhyme group ends on a true rhyme of
the group's first end word (the same phones from the stressed vowel on, by the CMU dictionary); the
first line of a group ends on a word with several true rhymes, so its partners have room, and on none that
rhymes with another group's (ABAB, not AAAA). Where no
candidate manages a true rhyme the line settles for a slant rhyme (the same stressed vowel) and says
so. The poet's lines (`given`) are kept as written and the form's checks work around them: a line
given anywhere is the rhyme its partners must meet.

A subject (`about`, "the sea at night") steers the word writer (poetry_lab.compose.subject): its related
words are favoured where the writer samples and a candidate gains in the ranking for each it holds (once
the poem holds a related word, it leaves its pull to the others). Its rhyme words are not chosen for it:
ending rhyme groups on related words (Hafez's way) measured less readable. The likelihood the ranking
reads stays the model's own. The character model writes without steering (the poem says so:
its `related` is empty).

Several poems (columns(): the app's temperatures side by side) are searched together, each line of all of them
drafted in one batch of the decoder, which is how one poem is written too.

Randomness: the draws of line i come from numpy's generator seeded with (seed, i, attempt), the
same for every temperature, so columns at several temperatures share their draws, a poem is the
same for the same seed, and regenerating line i (a new attempt) leaves the other lines alone.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise

import numpy as np

from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.analysis.poetics import scan_line, word_readings
from poetry_lab.compose.decoder import MAX_LINE_CHARS, CharWriter, Draft, LineSpec, Start, read_through
from poetry_lab.compose.forms import DEFAULT_FORM, LinePlan, get_form, plan
from poetry_lab.compose.subject import MAX_STRENGTH, RANK_WEIGHT, REUSE, STRENGTH, Subject, subject_words
from poetry_lab.compose.word_decoder import WordWriter
from poetry_lab.compose.words import Lexicon, load_lexicon
from poetry_lab.core.checkpoint import ModelBundle
from poetry_lab.core.defaults import COMPOSE_TEMPERATURES, DEFAULT_SEED, MAX_TEMPERATURE
from poetry_lab.data.text import words
from poetry_lab.errors import PoetryLabError

METRE_WEIGHT = 1.0  # score = -bits per char + METRE_WEIGHT * metre score (both about 0..3 and 0..1)
# + break_weight * the word writer's log-probability of the line's break after its last word (0 to about -6 nats):
# a line the writer would have gone on ("the trees are / Golden") costs more. Off by default: blind readers
# (README, runs 5-6) rated 16 candidates with it 2.27 against 2.50 without; 32 candidates with it 2.79 and 2.65
# against 2.60 for 32 without and 2.50 for 16 without: within the noise between passes (0.25), at 1.4x the time.
BREAK_WEIGHT = 0.0
# + spike_weight * the word writer's lowest log-probability of one word or mark in the line (about -4 to -14 nats):
# a line with one word that does not fit ("a tears", "I have was", "music of my lends") costs more than its mean shows.
# In run 16's 72 generated quatrains readers' readability followed the line's worst surprise (r = -0.43) more than its
# mean (r = -0.32), but ranking by it lost in a blind pass (README, run 17): 2.40 at 0.1 and 2.35 at 0.2 against 2.46
# without, every reader agreeing; it trades the line's mean likelihood for it (1.49 to 1.51 and 1.53 bits/char). Off.
SPIKE_WEIGHT = 0.0
MIN_P = 0.0  # min-p sampling in the decoders (poetry_lab.compose.decoder.draw)
RHYMEABLE = 3  # the first line of a rhyme group ends on a word with at least this many true rhymes
SHOWN_CANDIDATES = 5  # next-best candidates kept per line
MAX_BEAM = 16
OUT_OF_RANGE = 10.0  # the score a line loses in the poem-level search when its syllables, read against the metre, miss the range


@dataclass
class ComposeConfig:
    form: str = DEFAULT_FORM
    lines: int | None = None  # poem length (a form of any_length) or a multiple of the stanza; None: the form's own
    temperature: float = 0.8
    seed: int | None = DEFAULT_SEED  # None draws a fresh seed (reported in the Poem)
    # candidate lines drafted per line (per partial poem kept). Blind readers found more clearer: 32 over 16 by +0.14 ± 0.05
    # over 264 sonnets, 64 over 32 by +0.18 ± 0.06 over 144, 128 over 64 by +0.18 to +0.24 in three passes of 72 (README, runs 19-28).
    # 64 is what the goals allow (bench_latency, the decoder of 2026-12-06, a slow day: one sonnet's compose process
    # 4.1-4.9 s, goal 5; the app's four columns 7.3-7.4 s, goal 12); 128 took 5.9-6.0 s and 12.3-16.3 s.
    candidates: int = 64
    beam: int = 1  # partial poems kept after each line: the poem as a whole is chosen, not each line greedily
    prompt: str = ""  # the poet's opening lines (each non-blank line becomes a given line)
    given: dict[int, str] = field(default_factory=dict)  # line index -> the poet's (locked) line
    attempts: dict[int, int] = field(default_factory=dict)  # line index -> how many times it was regenerated
    avoid: dict[int, list[str]] = field(default_factory=dict)  # line index -> texts not to write there again
    raw: bool = False  # plain sampling ("raw letters"): the bare model, no words, metre or rhyme kept
    letters: bool = False  # write in form with the character model even where the model has a word-level writer
    about: str = ""  # the poem's subject, a word or a short phrase ("the sea at night"); "": none
    strength: float = STRENGTH  # how hard the subject steers the word writer (poetry_lab.compose.subject)
    reuse: float = REUSE  # how much of its pull a related word keeps once the poem holds it (1: all, 0: none)
    metre_weight: float = METRE_WEIGHT  # how much the fit to the form's metre counts beside the line's likelihood
    break_weight: float = BREAK_WEIGHT  # how much a line break the word writer would not make costs a draft (0: nothing)
    spike_weight: float = SPIKE_WEIGHT  # how much a draft's worst-fitting word costs it (the word writer's; 0: nothing)
    min_p: float = MIN_P  # a word (or letter) less than this share as likely as the likeliest allowed is not drawn (0: off)

    def __post_init__(self) -> None:
        get_form(self.form)  # an unknown form is the first thing to say
        if not 0.0 <= float(self.temperature) <= MAX_TEMPERATURE or math.isnan(self.temperature):
            raise PoetryLabError(f"Temperature {self.temperature:g} is out of range: use 0 up to {MAX_TEMPERATURE:g}.")
        if not 1 <= self.candidates <= 256:
            raise PoetryLabError("Candidates per line must be between 1 and 256.")
        if not 1 <= self.beam <= MAX_BEAM:
            raise PoetryLabError(f"The poems kept while writing (beam) must be between 1 and {MAX_BEAM}.")
        if not 0.0 <= float(self.strength) <= MAX_STRENGTH:
            raise PoetryLabError(f"The subject's strength must be between 0 and {MAX_STRENGTH:g}.")
        if not 0.0 <= float(self.metre_weight) <= 10.0 or math.isnan(self.metre_weight):
            raise PoetryLabError(f"The metre's weight {self.metre_weight:g} is out of range: use 0 up to 10.")
        if not 0.0 <= float(self.spike_weight) <= 10.0 or math.isnan(self.spike_weight):
            raise PoetryLabError(f"The worst word's weight {self.spike_weight:g} is out of range: use 0 up to 10.")
        if not 0.0 <= float(self.min_p) < 1.0 or math.isnan(self.min_p):
            raise PoetryLabError(f"min-p {self.min_p:g} is out of range: use 0 (off) up to below 1.")
        if not 0.0 <= float(self.reuse) <= 1.0:
            raise PoetryLabError("How much a related word keeps of its pull once used (reuse) must be between 0 and 1.")
        self.about = " ".join((self.about or "").split())
        subject_words(self.about)  # too long, or no word to write about, is said before anything is written
        if self.seed is None:
            self.seed = int(np.random.default_rng().integers(2**31))
        self.seed = int(self.seed) % 2**63
        prompt_lines = [ln.strip() for ln in self.prompt.splitlines() if ln.strip()]
        self.given = {**{i: ln for i, ln in enumerate(prompt_lines)}, **{int(k): v.strip() for k, v in self.given.items()}}
        n = len(plan(self.form, self.lines))
        if any(not 0 <= i < n for i in self.given):
            raise PoetryLabError(f"This poem has {n} lines: a given or locked line must be one of lines 1 to {n}.")


@dataclass
class Candidate:
    text: str
    score: float
    bits_per_char: float
    metre_score: float | None
    syllables: int


@dataclass
class Line:
    text: str
    syllables: int
    rhyme: str  # the line's letter in the form's scheme ("-": rhymes with nothing)
    end_word: str
    score: float  # the ranking score of the kept candidate (higher is better); 0 for the poet's own lines
    bits_per_char: float | None = None  # the model's own surprise at the line (None for the poet's lines)
    metre_score: float | None = None
    rhyme_quality: str = ""  # "true", "slant" (had to settle) or "none" (no rhyme found); "" where none is asked
    given: bool = False  # the poet's own line, kept as written
    candidates: list[Candidate] = field(default_factory=list)  # the next best drafts, best first
    related: list[str] = field(default_factory=list)  # the words of the line related to the poem's subject


@dataclass
class Poem:
    form: str
    temperature: float
    seed: int
    lines: list[Line]
    stanzas: list[int]  # stanza number of each line
    seconds: float = 0.0
    raw: bool = False
    writer: str = "letters"  # what wrote the lines: "words" (the word-level writer) or "letters" (the character model)
    about: str = ""  # the subject asked for ("": none)
    related: dict[str, float] = field(default_factory=dict)  # the words that steered the writer, with their weights;
    # {} with a subject: the character model wrote, and it does not steer

    @property
    def text(self) -> str:
        out = []
        for i, line in enumerate(self.lines):
            if i and self.stanzas[i] != self.stanzas[i - 1]:
                out.append("")
            out.append(line.text)
        return "\n".join(out)

    @property
    def on(self) -> str:
        """The poem's subject as the page and the command line name it: "on: the sea at night" ("" without one)."""
        if not self.about:
            return ""
        return f"on: {self.about}" + ("" if self.related else " (not steered: the character model wrote it)")

    def to_json(self) -> dict:
        """{"form", "text", "lines": [{"text", "syllables", "rhyme", "end_word", "score", ...}], "seconds", ...}"""
        return {"form": self.form, "text": self.text, "lines": [asdict(line) for line in self.lines],
                "seconds": round(self.seconds, 3), "temperature": self.temperature, "seed": self.seed, "raw": self.raw,
                "writer": self.writer, "about": self.about, "related": self.related}


class Composer:
    """A model ready to write in form: its fast cell, the known words and (optionally) its training
    text for the copy check. Build once per model; compose() is then cheap and keeps no state."""

    def __init__(self, bundle: ModelBundle, lexicon: Lexicon | None = None, corpus: CorpusIndex | None = None):
        self.bundle = bundle
        self.lexicon = lexicon or load_lexicon()
        self.corpus = corpus
        if corpus is not None:
            self.lexicon = self.lexicon.with_corpus(corpus.text)
        self.letters = CharWriter(bundle, self.lexicon)
        self.words = WordWriter(bundle.writer, self.lexicon, RHYMEABLE) if bundle.writer is not None else None
        self._starts: dict[str, tuple] = {}

    def writer(self, cfg: ComposeConfig) -> CharWriter | WordWriter:
        """What writes the lines: the word-level writer where the model has one and `cfg.letters` is not
        asked for, else the character model; raw letters are always the character model's."""
        return self.words if self.words is not None and not (cfg.letters or cfg.raw) else self.letters

    def _start(self, writer) -> tuple:
        """The writer's (state, logits) at the start of a poem (after a blank line), computed once."""
        name = writer_name(writer)
        if name not in self._starts:
            self._starts[name] = writer.feed(None, None, "\n\n")
        return self._starts[name]

    def compose(self, config: ComposeConfig) -> Poem:
        return self.columns(config, (config.temperature,))[0]

    def columns(self, config: ComposeConfig, temperatures: tuple[float, ...] = COMPOSE_TEMPERATURES) -> list[Poem]:
        """The same poem settings at several temperatures, one shared seed (the app's side-by-side columns). The poems
        are searched side by side, each line of all of them drafted in one batch: one model step a word for every
        candidate of every poem (four sonnets so cost a third less than one after another). A poem's `seconds` is its
        share of the time."""
        t0 = time.perf_counter()
        configs = [replace(config, temperature=t) for t in temperatures]
        poems = [self._raw(cfg) for cfg in configs] if config.raw else self._side_by_side([self._in_form(cfg) for cfg in configs])
        for poem in poems:
            poem.seconds = (time.perf_counter() - t0) / len(poems)
        return poems

    @staticmethod
    def _side_by_side(searches: list[Generator]) -> list[Poem]:
        """Runs poem searches (_in_form) together: each round, every search's pending drafts (a _Drafts) are written
        in one decoder batch per writer; a search's result is its poem."""
        poems: list[Poem | None] = [None] * len(searches)
        answers: list = [None] * len(searches)
        active = list(range(len(searches)))
        while active:
            asks: dict[tuple[int, float], list[tuple[int, _Drafts]]] = {}
            for k in active:
                try:
                    ask = searches[k].send(answers[k])
                except StopIteration as stop:
                    poems[k] = stop.value
                    continue
                asks.setdefault((id(ask.writer), ask.min_p), []).append((k, ask))
            active = [k for group in asks.values() for k, _ in group]
            for group in asks.values():
                writer, min_p = group[0][1].writer, group[0][1].min_p
                starts = [s for _, ask in group for s in ask.starts]
                temperatures = [ask.temperature for _, ask in group for _ in ask.starts]
                steered = any(ask.bias is not None for _, ask in group)
                bias = np.concatenate([ask.bias if ask.bias is not None else np.zeros((len(ask.starts), len(writer.decoder.vocab)), np.float32)
                                       for _, ask in group]) if steered else None
                written = writer.decoder.write(starts, temperatures, **({"bias": bias} if steered else {}), min_p=min_p)
                for k, ask in group:
                    answers[k], written = written[: len(ask.starts)], written[len(ask.starts) :]
        return poems

    def regenerate(self, config: ComposeConfig, poem: Poem, index: int) -> Poem:
        """`poem` again with line `index` written anew (a new attempt) and every other line kept as it is."""
        if not 0 <= index < len(poem.lines):
            raise PoetryLabError(f"This poem has {len(poem.lines)} lines: choose one of lines 1 to {len(poem.lines)}.")
        keep = {k: line.text for k, line in enumerate(poem.lines) if k != index}
        attempts = {**config.attempts, index: config.attempts.get(index, 0) + 1}
        avoid = {**config.avoid, index: [*config.avoid.get(index, []), poem.lines[index].text]}
        return self.compose(replace(config, prompt="", given=keep, attempts=attempts, avoid=avoid))

    def _in_form(self, cfg: ComposeConfig) -> Generator[_Drafts, list[list[Draft]], Poem]:
        """A search over partial poems: after each line the `beam` best (by the sum of their lines' scores) go on. It
        asks for its drafts (yields a _Drafts, is sent the decoder's drafts) and returns the poem: _side_by_side runs it."""
        plans = plan(cfg.form, cfg.lines)
        writer = self.writer(cfg)
        steer = self._steer(cfg, writer)
        related = steer.subject.related if steer else {}
        state, logits = self._start(writer)
        beam = [_Partial(0.0, [], dict(cfg.given), state, logits)]  # fixed: line index -> text, the poet's and those written
        for i, p in enumerate(plans):
            if i and p.stanza != plans[i - 1].stanza:
                beam = [h.fed(*writer.feed(h.state, h.logits, "\n")) for h in beam]
            if i in cfg.given:
                line = self._given_line(cfg.given[i], p, related)
                beam = [h.grown(line, 0.0, *writer.feed(h.state, h.logits, line.text + "\n")) for h in beam]
                continue
            written = yield from self._write_line(writer, i, plans, beam, cfg, steer)
            grown = [h.grown(line, score, *read_through(writer, draft))
                     for h, found in zip(beam, written) for line, draft, score in found[: cfg.beam]]
            if not grown:
                raise PoetryLabError(f"Line {i + 1} could not be written in this form; try another seed or temperature.")
            grown.sort(key=lambda h: -h.score)
            seen: set[str] = set()
            beam = [h for h in grown if not (h.key in seen or seen.add(h.key))][: cfg.beam]
        return Poem(cfg.form, cfg.temperature, cfg.seed, beam[0].lines, [p.stanza for p in plans], writer=writer_name(writer),
                    about=cfg.about, related=dict(related))

    def _steer(self, cfg: ComposeConfig, writer) -> _Steer | None:
        """How the subject steers `writer`: None without a subject, or for the character model (which does not steer)."""
        if not cfg.about or not isinstance(writer, WordWriter):
            return None
        subject = writer.subject(cfg.about)
        stoi = writer.decoder.table.vocab.stoi
        return _Steer(subject, writer.neighbours().bias(subject, cfg.strength), RANK_WEIGHT * cfg.strength, cfg.reuse,
                      {w: stoi[w] for w in subject.related})

    def _given_line(self, text: str, p: LinePlan, related: dict[str, float]) -> Line:
        syl, score = _scan(text, p)
        return Line(text, syl, p.letter, _end_word(text), 0.0, None, score, "", True, related=_related(words(text), related))

    def _spec(self, i: int, plans: list[LinePlan], fixed: dict[int, str], relax: int) -> tuple[LineSpec, str]:
        """The decoder's constraints for line i and the rhyme it aims at ("true", "slant", "none" or "")."""
        p = plans[i]
        ends = {k: _end_word(t) for k, t in fixed.items()}
        pairs = frozenset(pair for k in sorted(fixed) for pair in _pairs(fixed, k))
        prev = ends.get(i - 1, "")
        base = {"lo": p.lo, "hi": p.hi, "feminine": p.feminine, "closes": p.closes, "used_ends": frozenset(ends.values()),
                "used_pairs": pairs, "prev_word": prev}
        if p.group is None:
            return LineSpec(**base), ""
        anchors = [ends[k] for k, q in enumerate(plans) if q.group == p.group and k in ends and ends[k]]
        if not anchors:
            if relax == 0:  # a new rhyme, not another group's sound again (ABAB with A = B reads as AAAA)
                others = {ends[k].lower() for k, q in enumerate(plans) if q.group not in (None, p.group) and ends.get(k)}
                base["used_ends"] |= {w for a in others for w in (self.lexicon.rhymes_of(a) | {a})}
            return LineSpec(**base, rhymeable=RHYMEABLE if relax == 0 else 0), "true"
        if relax >= 2:
            return LineSpec(**base), "none"
        pool = set.intersection(*(self.lexicon.rhymes_of(a.lower()) for a in anchors)) if relax == 0 else \
            set.intersection(*(self._slant(a.lower()) for a in anchors))
        return LineSpec(**base, end_words=frozenset(pool - set(ends.values()))), "true" if relax == 0 else "slant"

    def _slant(self, word: str) -> set[str]:
        """Known words with the same stressed vowel as `word` and its rhyme's last sound or none after it."""
        info = self.lexicon.info.get(word)
        keys = info.rhymes if info else ()
        vowels = {k.split()[0][:-1] for k in keys if k}
        lasts = {k.split()[-1] for k in keys if k}
        return {w for r, ws in self.lexicon.by_rhyme.items() if r and r.split()[0][:-1] in vowels
                and r.split()[-1][:1] in {x[:1] for x in lasts} for w in ws if w != word}

    def _write_line(self, writer, i: int, plans: list[LinePlan], beam: list[_Partial], cfg: ComposeConfig,
                    steer: _Steer | None = None) -> Generator[_Drafts, list[list[Draft]], list[list[tuple[Line, Draft, float]]]]:
        """For each partial poem, the drafts of line i worth keeping, best first, as (line, draft, its score in
        the poem-level search); [] where none can be written. The partial poems' candidates are drafted as
        one batch; the rhyme is relaxed only for a poem where no draft finishes."""
        p = plans[i]
        attempt = cfg.attempts.get(i, 0)
        # Fallbacks where no draft finishes: the same rhyme at a livelier temperature, then a slant rhyme, then none.
        tries = [(0, cfg.temperature), (0, max(cfg.temperature, 0.8)), (1, max(cfg.temperature, 0.8)), (2, max(cfg.temperature, 0.8))]
        found: list[list] = [[] for _ in beam]
        for k, (relax, temperature) in enumerate(tries):
            jobs = []  # (partial poem, rhyme quality, start)
            for b, h in enumerate(beam):
                if found[b]:
                    continue
                spec, quality = self._spec(i, plans, h.fixed, relax)
                if spec.end_words is not None and not spec.end_words:
                    continue
                # each partial poem its own draws; the first the greedy poem's, so beam 1 writes what it always did
                rng = np.random.default_rng([cfg.seed, i, attempt, k] + ([b] if b else []))
                jobs.append((b, quality, Start(h.state, h.logits, spec, rng.random((MAX_LINE_CHARS, cfg.candidates)))))
            if not jobs:
                continue
            used = {b: steer.subject.used(beam[b].fixed.values()) if steer else frozenset() for b, _, _ in jobs}
            bias = np.stack([steer.bias_after(used[b]) for b, _, _ in jobs]) if steer else None
            written = yield _Drafts(writer, [job for _, _, job in jobs], temperature, bias, cfg.min_p)
            for (b, quality, _), drafts in zip(jobs, written):
                ranked = self._rank(drafts, [*beam[b].fixed.values(), *cfg.avoid.get(i, [])], p, cfg, steer, used[b])
                found[b] = [self._line(ranked, k, p, quality, steer) for k in range(min(cfg.beam, len(ranked)))]
            if all(found):
                break
        return found

    @staticmethod
    def _line(ranked: list[tuple[Draft, Candidate]], k: int, p: LinePlan, quality: str, steer: _Steer | None) -> tuple[Line, Draft, float]:
        """The k-th ranked draft as a Line (with the other drafts as its candidates), its draft and its search score."""
        best, cand = ranked[k]
        others = [c for j, (_, c) in enumerate(ranked) if j != k][:SHOWN_CANDIDATES]
        line = Line(best.text, cand.syllables, p.letter, best.words[-1] if best.words else "", round(cand.score, 4),
                    round(cand.bits_per_char, 4), cand.metre_score, quality if p.group else "", False, others,
                    _related(best.words, steer.subject.related) if steer else [])
        return line, best, cand.score - (0.0 if p.lo <= cand.syllables <= p.hi else OUT_OF_RANGE)

    def _rank(self, drafts: list[Draft], taken: list[str], p: LinePlan, cfg: ComposeConfig, steer: _Steer | None = None,
              used: frozenset[str] = frozenset()) -> list[tuple[Draft, Candidate]]:
        """Drafts worth keeping, best first: not copied, not one of the `taken` lines, each text once; a subject's
        related words add to a draft's score (those the poem holds, `used`, only their reuse share), and a break
        where the writer would not break (cfg.break_weight) or its worst-fitting word (cfg.spike_weight) costs it; the
        metre counts cfg.metre_weight."""
        seen = {t.strip().lower() for t in taken}
        out = []
        for d in drafts:
            key = d.text.strip().lower()
            if not key or key in seen or (self.corpus is not None and _copied(d.text, self.corpus)):
                continue
            seen.add(key)
            syl, m = _scan(d.text, p)
            score = -d.bits_per_char + (cfg.metre_weight * m if m is not None else 0.0) + cfg.break_weight * d.break_logp \
                + cfg.spike_weight * d.worst_logp
            if steer is not None:
                score += steer.bonus * steer.subject.held(d.words, used, steer.reuse)
            out.append((d, Candidate(d.text, round(score, 4), round(d.bits_per_char, 4), m, syl)))
        # a draft whose count, read as the checks read it (against the metre), is out of range comes last
        out.sort(key=lambda dc: (not p.lo <= dc[1].syllables <= p.hi, -dc[1].score))
        return out

    def _raw(self, cfg: ComposeConfig) -> Poem:
        """Plain sampling of as many lines as the form has, for comparison (the bare model)."""
        plans = plan(cfg.form, cfg.lines)
        n_prompt = next(k for k in range(len(plans) + 1) if k not in cfg.given)  # the poet's opening lines
        prompt = "".join(cfg.given[k] + "\n" for k in range(n_prompt))
        text = self.letters.raw(prompt, len(plans) - n_prompt, cfg.temperature, cfg.seed)
        texts = [t for t in text.splitlines() if t.strip()][: len(plans)]
        out = []
        for k, (t, p) in enumerate(zip(texts, plans)):
            syl, m = _scan(t, p)
            out.append(Line(t, syl, p.letter, _end_word(t), 0.0, None, m, "", k < n_prompt))
        return Poem(cfg.form, cfg.temperature, cfg.seed, out, [p.stanza for p in plans[: len(out)]], raw=True, about=cfg.about)


@dataclass(frozen=True)
class _Steer:
    """A subject as one poem's decoding uses it."""

    subject: Subject
    bias: np.ndarray  # (V,) added to the writer's log-probabilities where it samples
    bonus: float  # ranking score per unit of related weight a line holds
    reuse: float  # the share of its pull a related word keeps once the poem holds it
    ids: dict[str, int]  # each related word's id in the writer's vocabulary

    def bias_after(self, used: frozenset[str]) -> np.ndarray:
        """The bias for a line once the poem holds the related words `used`: each keeps `reuse` of its pull."""
        if not used or self.reuse == 1.0:
            return self.bias
        out = self.bias.copy()
        out[[self.ids[w] for w in used]] *= self.reuse
        return out


@dataclass
class _Drafts:
    """What a poem search asks the decoder for: drafts of a line from each start, at its temperature."""

    writer: CharWriter | WordWriter
    starts: list[Start]
    temperature: float
    bias: np.ndarray | None  # (len(starts), V) for the word writer, or None
    min_p: float


@dataclass
class _Partial:
    """One partial poem in the search: its score so far, its lines, every fixed line's text and the model after it."""

    score: float
    lines: list[Line]
    fixed: dict[int, str]
    state: list
    logits: np.ndarray

    @property
    def key(self) -> str:
        return "\n".join(line.text.lower() for line in self.lines)

    def grown(self, line: Line, score: float, state, logits) -> _Partial:
        return _Partial(self.score + score, [*self.lines, line], {**self.fixed, len(self.lines): line.text}, state, logits)

    def fed(self, state, logits) -> _Partial:
        return replace(self, state=state, logits=logits)


def writer_name(writer) -> str:
    """How a Poem names what wrote it: "words" (the word-level writer) or "letters" (the character model)."""
    return "words" if isinstance(writer, WordWriter) else "letters"


def _related(line_words: list[str], related: dict[str, float]) -> list[str]:
    """The words of a line related to the subject, each once, in the line's order."""
    return list(dict.fromkeys(w for w in line_words if w in related))


def _end_word(text: str) -> str:
    found = words(text.replace("’", "'"))
    return found[-1] if found else ""


def _scan(text: str, p: LinePlan) -> tuple[int, float | None]:
    """(syllables, metre score or None) of a line, read against its plan's metre where it has one."""
    return scan_line(text, p.metre) if p.metre else (_count(text), None)


def _count(text: str) -> int:
    """Syllables of a line read without a metre: each word's first reading."""
    return sum(len(word_readings(w)[0][0]) for w in words(text.replace("’", "'")))


def _pairs(fixed: dict[int, str], k: int) -> list[tuple[str, str]]:
    """The word pairs of line k, with the pair across the break from line k-1."""
    ws = words(fixed[k].replace("’", "'"))
    prev = _end_word(fixed[k - 1]) if k - 1 in fixed else ""
    seq = ([prev] if prev else []) + ws
    return list(pairwise(seq))


def _copied(text: str, corpus: CorpusIndex) -> bool:
    """Whether the line, without its closing punctuation, occurs word for word in the training text."""
    core = re.sub(r"[\s\W]+$", "", text.strip())
    return len(core) > 12 and core in corpus.text
