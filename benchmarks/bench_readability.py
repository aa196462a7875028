"""Do Poetry Lab's poems make sense? A blind test: readers rate its quatrains beside human ones.

    python -m benchmarks.bench_readability build --pairs 24 --threads 1 \\
        --writer base=pretrained/base_forward.safetensors \\
        --writer letters=pretrained/base_forward.safetensors@letters=true \\
        --writer raw=pretrained/base_forward.safetensors@raw=true \\
        --writer sonnets=finetune:sonnets:60 \\
        --out benchmarks/results/readability/run1
    # give a reader benchmarks/results/readability/run1/items.md and nothing else; each writes a CSV
    python -m benchmarks.bench_readability score --run benchmarks/results/readability/run1 --answers reader1.csv reader2.csv

Writers. `--writer NAME=MODEL[@key=value,...]`: MODEL is a model file (with the word-level writer beside
it, if there is one; `MODEL+WRITER` puts that writer file beside it instead; `letters=true` writes with
the character model), or `finetune:CORPUS:SECONDS`, the
shipped base (pretrained/base_forward.safetensors) fine-tuned SECONDS on a bundled corpus (as
benchmarks/bench_compose fine-tunes, and its Composer checks copies against that corpus). The
key=value pairs set poetry_lab.compose.ComposeConfig fields, each parsed by its field's type
(`raw=true`, `candidates=32`, `temperature=1.0`, `form=quatrain`; `about=@named` puts each pair's poem on
its own subject, the pair's seed's line of benchmarks/data/subjects.txt); the seed is the pair's. Each writer
writes `--pairs` poems (ComposeConfig(form=--form, temperature=--temperature, seed=s), s = 1..N (or from
`--first-seed` on: new poems for a second pass), a sonnet
at 0.8 by default) and its quatrain is the poem's first four lines, shown exactly as written.

What readers are given: items.md only. Each pair is one writer's quatrain and one human quatrain
(benchmarks/data/human_quatrains.txt: the first four lines of rhyme-royal stanzas of The Rape of
Lucrece and A Lover's Complaint, which neither the base nor a fine-tune on the Sonnets read; see
benchmarks/make_human_quatrains.py), no human quatrain twice in a run and those without the source's
speech quotation marks drawn first (104 of the 229; a stanza opening 'Why... tells the human). The human side is A in half of
each writer's pairs, shuffled, and the pairs of every writer are shuffled together, so one pass rates
all writers and nothing in the file says which is which (RATING_SCALE and ANSWER_FORMAT below are its
whole instructions). key.json (writer, human side, seed, the human quatrain's source, both texts per
pair) and form.json (each writer's form checks) stay with whoever scores.

Scores, per writer and reader, over the pairs the reader answered: mean readability (1-5) of the
writer's quatrains and of the human quatrains paired with them, the same for quality, and the share of
pairs told apart (the reader named the human side correctly; chance is 0.5). Rows that cannot be read
are skipped and counted, pairs left out are listed. The "mean" row averages the readers' numbers, each
reader counting once, and adds bench_compose's form checks of the four lines readers saw (true rhyme
pairs, lines in the syllable range, real-word share, lines copied from the training text: the
fine-tuning corpus, or with --base-copies the base's Gutenberg corpus) and the seconds to write the
whole poem. Below, each two writers compared seed by seed (paired_differences: the mean difference of their
poems at the same seeds and its standard error); poems vary so much from seed to seed that 24 a writer tell apart
only differences above about 0.35, so a decision takes 72-96 (`--pairs 96`, two writers to an items file).
Writes score.json and score.md in the run folder.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import json
import random
import re
import statistics
import time
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from benchmarks.bench_compose import finetune, poem_measures, summarise
from poetry_lab.analysis.metrics import CorpusIndex
from poetry_lab.compose import ComposeConfig, Composer, Poem
from poetry_lab.core.checkpoint import load_model, load_writer
from poetry_lab.data.catalog import resolve_corpus
from poetry_lab.data.corpus import decode_bytes
from poetry_lab.errors import PoetryLabError

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "pretrained" / "base_forward.safetensors"
HUMAN_QUATRAINS = REPO / "benchmarks" / "data" / "human_quatrains.txt"
QUATRAIN = 4  # lines shown of each poem
SIDES = ("A", "B")
COLUMNS = ("pair", "human", "readability_A", "readability_B", "quality_A", "quality_B")
RATING_SCALE = ("for each pair say which of A or B was written by a human poet (exactly one is), and rate each quatrain "
                "for readability: 1 = word salad, 2 = local phrases make sense but the lines do not, 3 = mostly grammatical "
                "but the sense is muddled, 4 = clear with a lapse or two, 5 = clear and meaningful throughout; and for poetic "
                "quality 1-5 (1 = none, 5 = excellent).")
ANSWER_FORMAT = (f"a CSV with the header `{','.join(COLUMNS)}` and one row per pair (human is A or B), "
                 "ratings as whole numbers 1-5.")
# An elided word ('tis, 'gainst) starts with an apostrophe too; a speech mark opens before a word or closes after punctuation.
ELIDED = re.compile(r"'(tis|twas|twere|twill|gainst|twixt|tween|mongst|scape|t)\b", re.IGNORECASE)
SPEECH_MARK = re.compile(r"(^|\s)'[A-Za-z]|[.,;:!?-]'(\s|$)")
NAMED_SUBJECTS = "@named"  # about=@named: pair k's poem is on named subject k (benchmarks/data/subjects.txt)
PER_PAIR_SEED = "seed"  # the ComposeConfig field each pair sets itself (1..N), so a writer cannot set it


# ---- writers ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WriterSpec:
    """One `NAME=MODEL[@key=value,...]`: a model file or `finetune:CORPUS:SECONDS`, and ComposeConfig settings."""

    name: str
    model: str
    options: dict[str, typing.Any]
    text: str  # the spec as given


def compose_fields() -> dict[str, typing.Any]:
    """ComposeConfig's fields and their resolved types, read from the class so a new field is settable at once."""
    hints = typing.get_type_hints(ComposeConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(ComposeConfig)}


def parse_value(name: str, kind: typing.Any, text: str) -> typing.Any:
    """`text` as a value of the field's type: bool, int, float or str, or None where the field is optional."""
    args = typing.get_args(kind)
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args
    if optional and text.strip().lower() == "none":
        return None
    plain = [a for a in args if a is not type(None)] if optional else [kind]
    if len(plain) != 1 or plain[0] not in (bool, int, float, str):
        raise PoetryLabError(f"The option '{name}' ({kind}) cannot be set in a writer spec.")
    base = plain[0]
    if base is bool:
        if text.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise PoetryLabError(f"The option '{name}' is true or false, not '{text}'.")
        return text.strip().lower() in ("true", "1", "yes")
    try:
        return base(text.strip())
    except ValueError:
        raise PoetryLabError(f"The option '{name}' needs a {base.__name__}, not '{text}'.") from None


def parse_options(text: str) -> dict[str, typing.Any]:
    """`key=value,key=value` as ComposeConfig settings; an unknown key is an error that lists the fields."""
    fields = compose_fields()
    out: dict[str, typing.Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise PoetryLabError(f"Writer option '{item}' is not key=value.")
        if key not in fields:
            raise PoetryLabError(f"Unknown writer option '{key}': ComposeConfig's fields are {', '.join(fields)}.")
        if key == PER_PAIR_SEED:
            raise PoetryLabError("A writer cannot set the seed: each pair's poem has its own (1..N, --pairs).")
        out[key] = parse_value(key, fields[key], value)
    return out


def parse_writer(text: str) -> WriterSpec:
    """`NAME=MODEL[@key=value,...]` as a WriterSpec (the options are checked, the model is not loaded)."""
    name, eq, rest = text.partition("=")
    model, _, options = rest.partition("@")
    if not eq or not re.fullmatch(r"[A-Za-z0-9_.-]+", name.strip()) or not model.strip():
        raise PoetryLabError(f"A writer is NAME=MODEL[@key=value,...] (a name of letters, digits, _ . -), not '{text}'.")
    if model.startswith("finetune:"):
        finetune_source(model)  # checked now, not after the other writers have written
    return WriterSpec(name.strip(), model.strip(), parse_options(options), text)


def finetune_source(model: str) -> tuple[str, float] | None:
    """(corpus, seconds) of a `finetune:CORPUS:SECONDS` model; None for a model file."""
    if not model.startswith("finetune:"):
        return None
    parts = model.split(":")
    try:
        seconds = float(parts[2]) if len(parts) == 3 else -1.0
    except ValueError:
        seconds = -1.0
    if not parts[1] or seconds <= 0:
        raise PoetryLabError(f"A fine-tuned writer is finetune:CORPUS:SECONDS (e.g. finetune:sonnets:60), not '{model}'.")
    return parts[1], seconds


@dataclass
class Writer:
    """A loaded writer: its composer and what its form checks read (known words, training text for copies)."""

    spec: WriterSpec
    composer: Composer
    known: set[str]
    index: CorpusIndex | None = None
    corpus_lines: set[str] | None = None
    steps: int | None = None  # fine-tuning steps


def corpus_lines(text: str) -> set[str]:
    """The training text's lines as bench_compose compares them (lower case, no closing punctuation)."""
    return {ln.strip().lower().rstrip(",.;:!?") for ln in text.splitlines() if ln.strip()}


def base_corpus_lines() -> set[str]:
    """Every line of the base's pretraining corpus (120 MB: about half a minute and a GB of memory)."""
    with gzip.open(resolve_corpus("gutenberg_poetry"), "rt", encoding="utf-8") as f:
        return corpus_lines(f.read())


def load_writers(specs: list[WriterSpec], base_copies: bool) -> list[Writer]:
    """Each spec's Composer, one per distinct MODEL (a base and its raw=true share one; a fine-tune runs once)."""
    made: dict[str, Writer] = {}
    base_lines = base_corpus_lines() if base_copies else None
    for spec in specs:
        if spec.model not in made:
            made[spec.model] = _load(spec, base_lines)
    return [replace(made[s.model], spec=s) for s in specs]


def _load(spec: WriterSpec, base_lines: set[str] | None) -> Writer:
    source = finetune_source(spec.model)
    if source is None:
        model, _, writer = spec.model.partition("+")
        bundle = load_model(_path(model), device="cpu", writer=not writer)
        if writer:
            bundle.writer = load_writer(_path(writer))
        composer = Composer(bundle)
        return Writer(spec, composer, set(composer.lexicon.info), corpus_lines=base_lines)
    corpus, seconds = source
    text = decode_bytes(resolve_corpus(corpus).read_bytes())
    print(f"fine-tuning the base on {corpus} for {seconds:g} s", flush=True)
    tuned, steps = finetune(load_model(BASE, device="cpu"), text, seconds)
    composer = Composer(tuned, corpus=CorpusIndex(text))
    return Writer(spec, composer, set(composer.lexicon.info), composer.corpus, corpus_lines(text), steps)


def _path(name: str) -> Path:
    """A file as given, or from the repository."""
    return Path(name) if Path(name).is_file() else REPO / name


def compose_quatrain(writer: Writer, form: str, temperature: float, seed: int) -> tuple[Poem, Poem]:
    """(the whole poem, its first four lines as a Poem) for one pair; the writer's options override form and temperature."""
    options = dict(writer.spec.options)
    if options.get("about") == NAMED_SUBJECTS:  # each pair's poem on its own named subject (bench_subject's list)
        from benchmarks.bench_subject import named_subject

        options["about"] = named_subject(seed)
    config = ComposeConfig(**{"form": form, "temperature": temperature, **options, PER_PAIR_SEED: seed})
    poem = writer.composer.compose(config)
    if len(poem.lines) < QUATRAIN:
        raise PoetryLabError(f"Writer {writer.spec.name} wrote {len(poem.lines)} lines for seed {seed}; a quatrain needs {QUATRAIN}.")
    return poem, replace(poem, lines=poem.lines[:QUATRAIN], stanzas=poem.stanzas[:QUATRAIN])


def quatrain_measures(writer: Writer, quatrain: Poem) -> dict:
    """bench_compose's poem_measures of the four lines readers see (its plan counted for those four lines only)."""
    row = poem_measures(quatrain, quatrain.form, writer.known, writer.index, writer.corpus_lines, writer.composer.bundle)
    row["planned"] = len(quatrain.lines)  # poem_measures counts the whole form's lines (14 for a sonnet)
    return row


# ---- human quatrains -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HumanQuatrain:
    source: str
    lines: tuple[str, ...]


def read_human_quatrains(path: Path = HUMAN_QUATRAINS) -> list[HumanQuatrain]:
    """The shipped quatrains: blocks of a '# source' line and four verse lines (header blocks have no verse)."""
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        verse = [ln for ln in lines if not ln.startswith("#")]
        if verse:
            notes = [ln[1:].strip() for ln in lines if ln.startswith("#")]
            out.append(HumanQuatrain(notes[0] if notes else "", tuple(verse)))
    return out


def speech_marks(quatrain: HumanQuatrain) -> bool:
    """Whether the quatrain has the source's speech quotation marks ('Why hunt I then...), which Poetry Lab's lines lack."""
    return any(SPEECH_MARK.search(ELIDED.sub("", line)) for line in quatrain.lines)


def draw_humans(humans: list[HumanQuatrain], n: int, rng: random.Random) -> list[HumanQuatrain]:
    """n distinct quatrains in a seeded random order, those without speech marks first (a mark would tell the human)."""
    if n > len(humans):
        raise PoetryLabError(f"{n} pairs need as many human quatrains; there are {len(humans)}.")
    plain = [h for h in humans if not speech_marks(h)]
    quoted = [h for h in humans if speech_marks(h)]
    drawn = rng.sample(plain, min(n, len(plain))) + rng.sample(quoted, max(0, n - len(plain)))
    rng.shuffle(drawn)  # otherwise the quoted ones would all go to the last writer
    return drawn


# ---- build ---------------------------------------------------------------------------------------

def balanced_sides(n: int, rng: random.Random) -> list[str]:
    """The human's side for n pairs: A in half of them (the odd one out drawn), in a shuffled order."""
    sides = ["A"] * (n // 2) + ["B"] * (n // 2) + ([rng.choice(SIDES)] if n % 2 else [])
    rng.shuffle(sides)
    return sides


def items_text(pairs: list[dict]) -> str:
    """What readers get: the instructions, the scale, the answer format, then every pair (lines exactly as written)."""
    out = ["# Reading quatrains", "",
           f"Below are {len(pairs)} pairs of quatrains, A and B. Each quatrain is four lines taken from a longer poem, "
           "so its sense may run on. Spelling and punctuation are as written.", "",
           f"Rating scale: {RATING_SCALE}", "", f"Answers: {ANSWER_FORMAT}", ""]
    for p in pairs:
        out += [f"## Pair {p['pair']}", ""]
        for side in SIDES:
            out += [f"{side}:", "```", *p["text"][side], "```", ""]
    return "\n".join(out)


def build(specs: list[WriterSpec], pairs: int, out: Path, form: str = "sonnet", temperature: float = 0.8,
          seed: int = 0, base_copies: bool = False, humans_path: Path = HUMAN_QUATRAINS, extra: tuple[Path, ...] = (),
          first_seed: int = 1) -> dict:
    """Write items.md, key.json and form.json for `pairs` pairs per writer (poems at seeds first_seed on) into `out`;
    returns the key.
    `extra`: earlier runs whose writers join this one (their quatrains and form checks as they were written,
    e.g. by an earlier version of the code, paired with new human quatrains), so one pass of readers rates all."""
    t0 = time.perf_counter()
    earlier = [_earlier_run(run) for run in extra]
    names = [s.name for s in specs] + [name for e in earlier for name in e[1]]
    if len(set(names)) != len(names):
        raise PoetryLabError("Each writer needs its own name (an extra run's writers included).")
    rng = random.Random(seed)
    n_humans = pairs * len(specs) + sum(len(e[0]) for e in earlier)
    drawn = iter(draw_humans(read_human_quatrains(humans_path), n_humans, rng))  # none twice in one items file
    entries, form_checks, writers = [], {}, {}
    for old_pairs, old_writers, old_checks in earlier:
        writers.update(old_writers)
        form_checks.update(old_checks)
        for name in old_writers:
            mine = [p for p in old_pairs if p["writer"] == name]
            for p, side in zip(mine, balanced_sides(len(mine), rng)):
                entries.append({"writer": name, "human": side, "seed": p["seed"], "human_quatrain": next(drawn),
                                "poetry_lab_lines": p["poetry_lab_text"].split("\n"), "poem_text": p["poem_text"]})
    for writer in load_writers(specs, base_copies):
        rows = []
        for s, side in zip(range(first_seed, first_seed + pairs), balanced_sides(pairs, rng)):
            poem, quatrain = compose_quatrain(writer, form, temperature, s)
            rows.append(quatrain_measures(writer, quatrain))
            entries.append({"writer": writer.spec.name, "human": side, "seed": s, "human_quatrain": next(drawn),
                            "poetry_lab_lines": [line.text for line in quatrain.lines], "poem_text": poem.text})
        form_checks[writer.spec.name] = {"spec": writer.spec.text, "steps": writer.steps, **summarise(rows)}
        print(f"  {writer.spec.name}: {form_checks[writer.spec.name]}", flush=True)
    rng.shuffle(entries)
    writers.update({s.name: {"spec": s.text, "model": s.model, "options": s.options} for s in specs})
    key = {"form": form, "temperature": temperature, "seed": seed, "humans": str(humans_path), "writers": writers,
           "pairs": [_key_entry(k, e) for k, e in enumerate(entries, 1)]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "items.md").write_text(items_text(key["pairs"]) + "\n", encoding="utf-8")
    for p in key["pairs"]:
        del p["text"]  # the sides' lines are in the items; the key keeps each text under its own name
    (out / "key.json").write_text(json.dumps(key, indent=1, ensure_ascii=False), encoding="utf-8")
    form_json = {"measured_on": f"the first {QUATRAIN} lines of each poem (what readers see); seconds: the whole poem",
                 "build_seconds": round(time.perf_counter() - t0, 1), "torch_threads": torch.get_num_threads(), "writers": form_checks}
    (out / "form.json").write_text(json.dumps(form_json, indent=1), encoding="utf-8")
    return key


def _earlier_run(run: Path) -> tuple[list[dict], dict, dict]:
    """(pairs, writers, form checks) of a run build wrote before."""
    try:
        key = json.loads((run / "key.json").read_text(encoding="utf-8"))
        checks = json.loads((run / "form.json").read_text(encoding="utf-8"))["writers"]
    except (OSError, ValueError, KeyError) as e:
        raise PoetryLabError(f"{run} is not a run that build wrote (key.json and form.json): {e}") from None
    return key["pairs"], {name: {**w, "from_run": str(run)} for name, w in key["writers"].items()}, checks


def other_side(side: str) -> str:
    """The other quatrain of a pair: Poetry Lab's, where `side` is the human's."""
    return "B" if side == "A" else "A"


def _key_entry(number: int, e: dict) -> dict:
    human: HumanQuatrain = e["human_quatrain"]
    machine_side = other_side(e["human"])
    return {"pair": number, "writer": e["writer"], "human": e["human"], "seed": e["seed"], "human_source": human.source,
            "human_text": "\n".join(human.lines), "poetry_lab_text": "\n".join(e["poetry_lab_lines"]), "poem_text": e["poem_text"],
            "text": {e["human"]: list(human.lines), machine_side: e["poetry_lab_lines"]}}


# ---- score ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    pair: int
    human: str  # "A" or "B"
    readability: dict[str, float]  # side -> rating
    quality: dict[str, float]


@dataclass
class Answers:
    rows: dict[int, Answer]
    problems: list[str]  # rows that could not be read, pairs not in the key, repeats


def csv_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the CSV itself: blank lines, code fences and anything above the header dropped."""
    lines = [(k, ln.strip()) for k, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.strip().startswith("```")]
    start = next((i for i, (_, ln) in enumerate(lines) if ln.lower().replace(" ", "").startswith("pair,")), None)
    return lines if start is None else lines[start:]


def parse_row(cells: dict[str, str]) -> Answer:
    """One answer row (keys are lower-case column names); a ValueError says what is wrong with it."""
    missing = [c for c in COLUMNS if not cells.get(c.lower())]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    pair = re.fullmatch(r"(?:pair\s*)?(\d+)", cells["pair"], re.IGNORECASE)
    human = cells["human"].upper()
    if pair is None or human not in SIDES:
        raise ValueError("pair must be a number and human A or B")
    ratings = {}
    for c in COLUMNS[2:]:
        value = float(cells[c.lower()])
        if not 1 <= value <= 5:
            raise ValueError(f"{c} = {value:g} is not 1-5")
        ratings[c] = value
    return Answer(int(pair.group(1)), human, {s: ratings[f"readability_{s}"] for s in SIDES}, {s: ratings[f"quality_{s}"] for s in SIDES})


def read_answers(text: str, pairs: set[int]) -> Answers:
    """One reader's CSV, tolerant of whitespace, case, a code fence and text above the header; bad rows are noted."""
    lines = csv_lines(text)
    header = [c.strip().lower() for c in next(csv.reader([lines[0][1]]))] if lines else []
    if header[:1] == ["pair"]:
        lines = lines[1:]
    else:
        header = [c.lower() for c in COLUMNS]
    out = Answers({}, [])
    for number, line in lines:
        values = [v.strip() for v in next(csv.reader([line]))]
        try:
            answer = parse_row(dict(zip(header, values)))
        except ValueError as e:
            out.problems.append(f"line {number}: {e}: {line!r}")
            continue
        if answer.pair not in pairs:
            out.problems.append(f"line {number}: there is no pair {answer.pair}")
        elif answer.pair in out.rows:
            out.problems.append(f"line {number}: pair {answer.pair} again (the first answer is kept)")
        else:
            out.rows[answer.pair] = answer
    return out


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 3) if values else None


def writer_scores(key_pairs: list[dict], answers: Answers) -> dict:
    """Per writer, over the pairs this reader answered: mean ratings of its quatrains and the human ones, share told apart."""
    out = {}
    for writer in dict.fromkeys(p["writer"] for p in key_pairs):
        mine = [(p, answers.rows[p["pair"]]) for p in key_pairs if p["writer"] == writer and p["pair"] in answers.rows]
        machine = {p["pair"]: other_side(p["human"]) for p, _ in mine}
        out[writer] = {
            "readability": _mean([a.readability[machine[p["pair"]]] for p, a in mine]),
            "readability_human": _mean([a.readability[p["human"]] for p, a in mine]),
            "quality": _mean([a.quality[machine[p["pair"]]] for p, a in mine]),
            "quality_human": _mean([a.quality[p["human"]] for p, a in mine]),
            "told_apart": _mean([float(a.human == p["human"]) for p, a in mine]),
            "answered": len(mine), "pairs": sum(p["writer"] == writer for p in key_pairs)}
    return out


def paired_differences(key_pairs: list[dict], answers: list[Answers]) -> list[dict]:
    """Each two writers' readability compared poem by poem, over the seeds both wrote: per seed, the mean over the
    readers who rated it; the mean difference (first writer minus second, in key order), its standard error and how
    many seeds each side won. Poems of one writer differ more from seed to seed than two writers differ on average
    (2026-12-04: a standard deviation of about 0.8 a seed), so 24 seeds tell apart only differences above about 0.35."""
    by_seed: dict[tuple[str, int], float] = {}
    for p in key_pairs:
        rated = [a.rows[p["pair"]].readability[other_side(p["human"])] for a in answers if p["pair"] in a.rows]
        if rated:
            by_seed[p["writer"], p["seed"]] = statistics.fmean(rated)
    writers = list(dict.fromkeys(p["writer"] for p in key_pairs))
    out = []
    for i, a in enumerate(writers):
        for b in writers[i + 1:]:
            d = [by_seed[a, s] - by_seed[b, s] for w, s in by_seed if w == a and (b, s) in by_seed]
            if len(d) < 2:
                continue
            out.append({"writers": [a, b], "difference": round(statistics.fmean(d), 4),
                        "standard_error": round(statistics.stdev(d) / len(d) ** 0.5, 4), "seeds": len(d),
                        "higher": sum(x > 0 for x in d), "lower": sum(x < 0 for x in d), "tied": sum(x == 0 for x in d)})
    return out


def mean_over_readers(readers: dict[str, dict]) -> dict:
    """Each writer's numbers averaged over readers (each reader once); answered is the readers' total."""
    out = {}
    for writer in dict.fromkeys(w for r in readers.values() for w in r["writers"]):
        rows = [r["writers"][writer] for r in readers.values()]
        out[writer] = {k: _mean([row[k] for row in rows if row[k] is not None]) for k in rows[0] if k not in ("answered", "pairs")}
        out[writer]["answered"] = sum(row["answered"] for row in rows)
        out[writer]["pairs"] = sum(row["pairs"] for row in rows)
    return out


def reader_names(paths: list[Path]) -> list[str]:
    """Each answers file's stem, numbered where two files share one."""
    stems = [p.stem for p in paths]
    return [s if stems.count(s) == 1 else f"{s}#{k}" for k, s in enumerate(stems, 1)]


def require_files(run: Path, answer_paths: list[Path]) -> None:
    """A run's key and every reader's answers must be there: one plain error naming what is not."""
    missing = [str(p) for p in (run / "key.json", *answer_paths) if not p.is_file()]
    if missing:
        raise PoetryLabError(f"Not found: {', '.join(missing)} (--run is the folder build wrote).")


def score(run: Path, answer_paths: list[Path]) -> dict:
    """Read the key, form checks and every reader's answers; write score.json and score.md in `run`."""
    require_files(run, answer_paths)
    key = json.loads((run / "key.json").read_text(encoding="utf-8"))
    form = json.loads((run / "form.json").read_text(encoding="utf-8")) if (run / "form.json").is_file() else {"writers": {}}
    numbers = {p["pair"] for p in key["pairs"]}
    readers, everyone = {}, []
    for name, path in zip(reader_names(answer_paths), answer_paths):
        answers = read_answers(path.read_text(encoding="utf-8", errors="replace"), numbers)
        everyone.append(answers)
        readers[name] = {"file": str(path), "writers": writer_scores(key["pairs"], answers), "problems": answers.problems,
                         "skipped_rows": len(answers.problems), "missing_pairs": sorted(numbers - set(answers.rows))}
    report = {"run": str(run), "readers": readers, "mean": mean_over_readers(readers), "form": form["writers"],
              "paired": paired_differences(key["pairs"], everyone)}
    (run / "score.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (run / "score.md").write_text(score_table(report) + "\n", encoding="utf-8")
    return report


def score_table(report: dict) -> str:
    """The writers' rows (mean over readers, with the form checks), each reader's below, then the problems found."""
    out = ["| writer | reader | readability | readability, human | quality | quality, human | told apart | answered | "
           "true rhyme | in syllable range | real words | copied lines | s/poem |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for writer, mean in report["mean"].items():
        f = report["form"].get(writer, {})
        checks = " | ".join(_f(f.get(k)) for k in ("true_rhyme", "in_range", "real_words", "copied_lines", "seconds"))
        out.append(f"| **{writer}** | mean | {_ratings(mean)} | {checks} |")
        for reader, r in report["readers"].items():
            out.append(f"| {writer} | {reader} | {_ratings(r['writers'][writer])} | | | | | |")
    if report.get("paired"):
        out += ["", "| writers, seed by seed | readability difference | standard error | seeds | higher / lower / tied |", "|---|---|---|---|---|"]
        out += [f"| {d['writers'][0]} - {d['writers'][1]} | {d['difference']:+.3f} | {d['standard_error']:.3f} | {d['seeds']} | "
                f"{d['higher']} / {d['lower']} / {d['tied']} |" for d in report["paired"]]
    for reader, r in report["readers"].items():
        if r["problems"] or r["missing_pairs"]:
            out += ["", f"{reader}: {r['skipped_rows']} rows skipped, pairs not answered: {r['missing_pairs'] or 'none'}",
                    *[f"- {p}" for p in r["problems"]]]
    return "\n".join(out)


def _ratings(row: dict) -> str:
    values = [_f(row[k]) for k in ("readability", "readability_human", "quality", "quality_human", "told_apart")]
    return " | ".join([*values, f"{row['answered']}/{row['pairs']}"])


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


# ---- command line --------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write items.md (for readers), key.json and form.json")
    b.add_argument("--writer", action="append", default=[], help="NAME=MODEL[@key=value,...] (module docstring); repeat")
    b.add_argument("--pairs", type=int, default=24, help="pairs per writer")
    b.add_argument("--form", default="sonnet")
    b.add_argument("--temperature", type=float, default=0.8)
    b.add_argument("--seed", type=int, default=0, help="draws the human quatrains, the sides and the order")
    b.add_argument("--first-seed", type=int, default=1, help="each writer's poems are written at seeds FIRST..FIRST+PAIRS-1")
    b.add_argument("--base-copies", action="store_true", help="check model-file writers' lines against the base's 120 MB corpus")
    b.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (1 is steadier on a shared 2-core CPU)")
    b.add_argument("--extra", type=Path, action="append", default=[],
                   help="an earlier run folder whose writers join this items file (e.g. built with older code); repeat")
    b.add_argument("--out", type=Path, required=True)
    add_score_command(sub)
    return ap


def add_score_command(sub) -> None:
    """The `score` subcommand, the same for every blind benchmark: the run folder and one CSV per reader."""
    s = sub.add_parser("score", help="score readers' answers against the key")
    s.add_argument("--run", type=Path, required=True, help="the folder build wrote")
    s.add_argument("--answers", type=Path, nargs="+", required=True, help="one CSV per reader")


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    def build_items() -> str:
        key = build([parse_writer(w) for w in args.writer], args.pairs, args.out, args.form, args.temperature,
                    args.seed, args.base_copies, extra=tuple(args.extra), first_seed=args.first_seed)
        return f"wrote {len(key['pairs'])} pairs: {args.out / 'items.md'} for readers; key.json and form.json beside it"

    run_command(args, build_items, score, score_table)


def run_command(args, build_items, score_run, table) -> None:
    """A blind benchmark's two commands: `build` (build_items() -> what it wrote, at args.threads) or `score`;
    a user error is one line."""
    try:
        if args.command == "build":
            torch.set_num_threads(args.threads)
            with threadpool_limits(args.threads):
                print(build_items())
        else:
            print(table(score_run(args.run, args.answers)))
            print(f"wrote {args.run / 'score.json'} and score.md")
    except PoetryLabError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
