"""python -m poetry_lab {train, runs, generate, compose, evaluate, corpora, analyse, sweep}: a thin shell over the library.

User errors print one line to stderr and exit with status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from poetry_lab.compose.forms import DEFAULT_FORM, FORMS
from poetry_lab.core.defaults import (
    COMPARE_TEMPERATURES,
    DEFAULT_SEED,
    DEFAULT_THEMES,
    SWEEP_TEMPERATURES,
    temperatures_text,
)
from poetry_lab.errors import PoetryLabError
from poetry_lab.settings import LN2

# The keys of poetry_lab.core.model.CELLS, written out: importing the model (torch) to build the parser
# would add seconds to every command's start (tests/test_cli.py keeps the two equal).
CELL_NAMES = ("lstm", "gru")
WRITER_SECONDS = 60.0  # runs.writer.WriterTuning.seconds, written out for the same reason (the test keeps them equal)


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got '{text}'") from None


def _forms_help() -> str:
    """--form's help: each form of the one table with its description ("%" doubled, as argparse expands it)."""
    forms = "; ".join(f"{name}: {form.description}" for name, form in FORMS.items())
    return f"{forms} (default: {DEFAULT_FORM})".replace("%", "%%")


def _lines_help() -> str:
    free = " or ".join(form.title.lower() for form in FORMS.values() if form.any_length)
    return f"length of {free}; a multiple of the stanza otherwise".replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    prog = "poetry-lab" if Path(sys.argv[0]).name == "poetry-lab" else "python -m poetry_lab"
    p = argparse.ArgumentParser(prog=prog, description="Train and explore character-level poetry models.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_generate, _add_evaluate, _add_pretrain, _add_runs, _add_corpora, _add_analyse,
                _add_sweep, _add_compose, _add_themes):  # one function per subcommand, in the order --help lists them
        add(sub)
    return p


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a model on one or more text files (or bundled corpus names)")
    t.add_argument("corpus", nargs="*", help="text files or bundled corpus names (see: corpora list)")
    where = t.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", "--run-dir", type=Path, dest="out", metavar="DIR",
                       help="the run directory: model.safetensors (the best so far, rewritten as it improves), "
                       "metrics.csv, run.json, corpus.txt and resume checkpoints; `runs` lists it, --resume continues it")
    where.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted or stopped run directory "
                       "from its last checkpoint (--minutes/--epochs/--steps replace its limits, counted from its start)")
    limit = t.add_mutually_exclusive_group()
    limit.add_argument("--minutes", type=float, help="wall-clock budget, evaluations included "
                       "(default: the preset's, less for small corpora)")
    limit.add_argument("--epochs", type=float, help="passes over the training text")
    t.add_argument("--steps", type=int, dest="max_steps", help="stop after this many steps (whichever limit comes first)")
    t.add_argument("--checkpoint-every", type=float, default=None, metavar="SECONDS",
                   help="seconds between resume checkpoints (default 30)")
    t.add_argument("--preset", default=None, help="quick, balanced (default) or thorough")
    t.add_argument("--hidden", type=int)
    t.add_argument("--layers", type=int)
    t.add_argument("--cell", choices=CELL_NAMES)
    t.add_argument("--dropout", type=float)
    t.add_argument("--emb", type=int, dest="emb_dim")
    t.add_argument("--seq-len", type=int)
    t.add_argument("--batch", type=int, dest="batch_size")
    t.add_argument("--lr", type=float)
    t.add_argument("--patience", help="evaluations without improvement before stopping early, or 'never' "
                   "(default: the preset's, sized to the corpus; 0 keeps it too, as on the page: 0 used to mean never)")
    t.add_argument("--eval-every", type=float, dest="eval_every_s", help="seconds between evaluations")
    t.add_argument("--eval-steps", type=int, dest="eval_every_steps", help="evaluate every N steps instead (repeatable runs)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lowercase", action="store_true", help="lowercase the text first (as the tutorials did)")
    t.add_argument("--val-fraction", type=float, default=0.1, help="share of the poems held out for validation (the last ones)")
    t.add_argument("--val", type=str, default=None, metavar="FILE",
                   help="validate on this file (or bundled corpus) instead: the whole corpus trains")
    t.add_argument("--from", dest="base", type=Path, help="fine-tune this model file instead of starting from scratch")
    t.add_argument("--writer-seconds", type=float, default=None, metavar="SECONDS",
                   help="after the training, seconds for the base model's writer of poems in form to learn the text "
                   f"(default {WRITER_SECONDS:g}, fewer for a small text; 0: keep the base's writer as it is)")
    t.add_argument("--no-samples", action="store_true", help="do not print samples at each evaluation")


def _add_generate(sub) -> None:
    g = sub.add_parser("generate", help="write poems with a trained model")
    g.add_argument("model", type=Path)
    g.add_argument("--prompt", default="")
    g.add_argument("--temperatures", type=_floats, default=list(COMPARE_TEMPERATURES),
                   help=f"default: {temperatures_text(COMPARE_TEMPERATURES)}, as the app's comparison")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--chars", type=int, default=None)
    length.add_argument("--lines", type=int, default=None)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"same seed, same poems (default {DEFAULT_SEED}, as the app)")
    g.add_argument("--json", action="store_true")


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="mean cross-entropy of a model over a text file")
    e.add_argument("model", type=Path)
    e.add_argument("textfile")
    e.add_argument("--json", action="store_true")


def _add_pretrain(sub) -> None:
    pt = sub.add_parser("pretrain", help="train a base model on a large poetry corpus (forward or backward)")
    pt.add_argument("corpus", nargs="?", default="gutenberg_poetry")
    pt.add_argument("--out", required=True, type=Path, help="the model file to write (a JSON model card is written beside it)")
    pt.add_argument("--direction", choices=["forward", "backward"], default="forward")
    pt.add_argument("--minutes", type=float, default=None, help="wall-clock budget (default 30, or none with --max-steps)")
    pt.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    pt.add_argument("--resume", action="store_true",
                    help="go on from the checkpoint beside --out (OUT.resume.safetensors): same corpus and settings; "
                         "--minutes/--max-steps replace its limits, counted from its start")
    pt.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                    help="seconds between resume checkpoints (default 300)")
    pt.add_argument("--from", type=Path, default=None, dest="start",
                    help="go on training this base model (its weights and vocabulary; its model settings, but see --hidden)")
    pt.add_argument("--hidden", type=int, default=None,
                    help="LSTM width (default 512, the shipped base: see pretrained/README.md); with --from, a larger "
                         "width widens that base, keeping what it computes")
    pt.add_argument("--emb", type=int, default=64, dest="emb_dim", help="character embedding size")
    pt.add_argument("--layers", type=int, default=1)
    pt.add_argument("--dropout", type=float, default=0.0)
    pt.add_argument("--batch", type=int, default=32, dest="batch_size")
    pt.add_argument("--seq-len", type=int, default=128)
    pt.add_argument("--lr", type=float, default=4e-3)
    pt.add_argument("--warmup", type=int, default=200, dest="warmup_steps", help="steps of linear learning-rate warm-up")
    pt.add_argument("--val-chars", type=int, default=1_000_000)
    pt.add_argument("--max-chars", type=int, default=None)
    pt.add_argument("--eval-every", type=float, default=300.0, dest="eval_every_s")
    pt.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    pt.add_argument("--seed", type=int, default=0)


def _add_runs(sub) -> None:
    r = sub.add_parser("runs", help="list the training runs kept on disk (the app's and those of train --out)")
    r.add_argument("--home", type=Path, default=None, help="a Poetry Lab home or a folder of run directories "
                   "(default: POETRY_LAB_HOME, else ~/.poetry_lab)")
    r.add_argument("--json", action="store_true")


def _add_corpora(sub) -> None:
    c = sub.add_parser("corpora", help="list or fetch the bundled public-domain corpora")
    csub = c.add_subparsers(dest="corpora_command", required=True)
    csub.add_parser("list", help="show the catalog and which corpora are on this machine")
    f = csub.add_parser("fetch", help="rebuild a corpus from its public source (sonnets, milton)")
    f.add_argument("name")


def _add_analyse(sub) -> None:
    a = sub.add_parser("analyse", help="rhyme scheme, metre, syllables and stress of each poem in a file")
    a.add_argument("poem_file", help="a text file (poems separated by blank lines) or a bundled corpus name")
    a.add_argument("--json", action="store_true")


def _add_sweep(sub) -> None:
    w = sub.add_parser("sweep", help="generate poems across temperatures and plot their metrics")
    w.add_argument("model", type=Path)
    w.add_argument("--temperatures", type=_floats, default=list(SWEEP_TEMPERATURES),
                   help=f"default: {temperatures_text(SWEEP_TEMPERATURES)}")
    w.add_argument("--samples", type=int, default=5, help="poems per temperature")
    w.add_argument("--chars", type=int, default=400)
    w.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"same seed, same poems (default {DEFAULT_SEED}, as the app)")
    w.add_argument("--prompt", default="")
    w.add_argument("--corpus", help="the training text, for the copying checks (default: the model's own corpus, if on this machine); "
                   "a text too long to index is not checked")
    w.add_argument("--out", required=True, type=Path, help="directory for sweep.html and sweep.csv")


def _add_compose(sub) -> None:
    c = sub.add_parser("compose", help=f"write a poem in a form ({', '.join(FORMS)})")
    c.add_argument("model", help="a model file, or 'default' for the shipped base")
    c.add_argument("--form", default=DEFAULT_FORM, help=_forms_help())
    c.add_argument("--lines", type=int, default=None, help=_lines_help())
    c.add_argument("--prompt", default="", help="your own opening line(s), separated by newlines or ' / '")
    c.add_argument("--about", default="", metavar="SUBJECT",
                   help="what the poem is about, a word or a short phrase ('the sea at night'): the writer leans to its related words")
    c.add_argument("--theme", type=int, default=None, metavar="K",
                   help="write on theme K of the poems of --corpus (as `themes CORPUS` numbers them: its default method, "
                   "--themes themes): the theme's top words are the subject")
    c.add_argument("--themes", type=int, default=DEFAULT_THEMES, metavar="N",
                   help=f"with --theme: the number of themes the corpus is sorted into (default {DEFAULT_THEMES}, as `themes`)")
    c.add_argument("--temperature", type=float, default=0.8)
    c.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"same seed, same poem (default {DEFAULT_SEED}, as the app)")
    c.add_argument("--candidates", type=int, default=None,
                   help="candidate lines drafted per line (per partial poem kept; default: the composer's, 64, which blind "
                        "readers found clearer than 32; 128 read clearer still, at 1.3-1.8 times the time)")
    c.add_argument("--beam", type=int, default=1,
                   help="partial poems kept after each line, so the poem is chosen as a whole (default 1: each line's best)")
    c.add_argument("--corpus", default=None, help="the training text, so that no line is copied from it (default: the model's own, if found); "
                   "a text too long to index is not checked")
    c.add_argument("--raw", action="store_true", help="plain sampling, letter by letter (the bare model, no form kept)")
    c.add_argument("--letters", action="store_true",
                   help="write in form with the character model itself, even where the model has a word-level writer beside it")
    c.add_argument("--json", action="store_true")


def _add_themes(sub) -> None:
    th = sub.add_parser("themes", help="find themes in the poems of a file and compare the methods")
    th.add_argument("corpus", help="a text file (poems separated by blank lines) or a bundled corpus name")
    th.add_argument("--method", default="all", help="tfidf, lda, elmo, autoencoder, minilm or all (default)")
    th.add_argument("--k", default=str(DEFAULT_THEMES), help=f"number of themes (default {DEFAULT_THEMES}), or 'auto' (best silhouette on TF-IDF)")
    th.add_argument("--model", type=Path, help="forward model for the embeddings (default: the shipped Gutenberg poetry base)")
    th.add_argument("--backward", type=Path, help="its backward twin (default: X_backward.safetensors beside an "
                    "X_forward.safetensors model, else one trained on the reversed poems)")
    th.add_argument("--backward-steps", type=int, default=400, help="training steps for that backward model")
    th.add_argument("--backward-seconds", type=float, default=45.0, help="time limit for that training")
    th.add_argument("--seed", type=int, default=0)
    th.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores; 1 is much faster on a busy machine)")
    th.add_argument("--html", type=Path, help="directory for the figures as offline HTML files")
    th.add_argument("--json", action="store_true", help="print the results as JSON")


def _new_run(args: argparse.Namespace):
    """A PreparedRun from the command line's corpus and settings."""
    from poetry_lab.core.train import TrainConfig
    from poetry_lab.data.corpus import load_corpus
    from poetry_lab.runs.prepare import prepare_run
    from poetry_lab.runs.presets import (
        DEFAULT_PRESET,
        FINETUNE_MODEL,
        get_preset,
        model_settings,
        patience_settings,
        train_settings,
    )
    from poetry_lab.runs.writer import WriterTuning

    if not args.corpus:
        raise PoetryLabError("Give one or more text files (or bundled corpus names) to train on.")
    preset = get_preset(args.preset or DEFAULT_PRESET)
    corpus = load_corpus(args.corpus, lowercase=args.lowercase)
    explicit = {k: getattr(args, k) for k in ("hidden", "layers", "cell", "dropout", "emb_dim") if getattr(args, k) is not None}
    model_cfg = {**(FINETUNE_MODEL if args.base else model_settings(preset, len(corpus.text))), **explicit}
    # The page's defaults: a budget sized to the corpus (unless --minutes) and its evaluation schedule.
    train_kw = {**train_settings(preset, len(corpus.text), finetune=bool(args.base), minutes=args.minutes), "seed": args.seed}
    for k in ("seq_len", "batch_size", "lr", "eval_every_s", "eval_every_steps", "max_steps"):
        if getattr(args, k) is not None:
            train_kw[k] = getattr(args, k)
    train_kw.update(patience_settings(args.patience))
    if args.epochs is not None:
        train_kw.update(epochs=args.epochs, minutes=None)
    val_text = load_corpus([args.val], lowercase=args.lowercase).text if args.val else None
    writer = WriterTuning() if args.writer_seconds is None else WriterTuning(seconds=args.writer_seconds)
    return prepare_run(corpus, model_cfg, TrainConfig(**train_kw), base=str(args.base) if args.base else None,
                       val_fraction=args.val_fraction, val_text=val_text, writer=writer)


def _resumed_run(args: argparse.Namespace):
    """The run directory's PreparedRun, restored to its last checkpoint."""
    from poetry_lab.runs import listing as runs

    if args.corpus:
        raise PoetryLabError("--resume goes on with the run's own corpus: give no text files with it.")
    limits = {k: v for k, v in (("minutes", args.minutes), ("epochs", args.epochs), ("max_steps", args.max_steps)) if v is not None}
    run = runs.prepare_resumed(args.resume, limits)
    if args.writer_seconds is not None:
        from dataclasses import replace

        run.writer_tuning = replace(run.writer_tuning, seconds=args.writer_seconds)
    step = run.trainer.resumed_from
    print(f"resuming {args.resume} from its checkpoint at step {step}; "
          f"{runs.lost_steps(args.resume, step)} steps trained after it were lost and are trained again")
    return run


def _copy_index(corpus: str | None, given: bool):
    """metrics.corpus_copy_index of the training text: the one the user `given` must be readable, the
    model's own may be missing (None, as for one over the copy check's limit)."""
    from poetry_lab.analysis.metrics import corpus_copy_index

    try:
        return corpus_copy_index(corpus) if corpus else None
    except PoetryLabError:
        if given:
            raise
        return None


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from poetry_lab.core.checkpoint import WRITER_FILE
    from poetry_lab.core.sampling import SampleConfig, sample
    from poetry_lab.runs.jobs import stop_message
    from poetry_lab.runs.record import METRICS, RunRecorder

    run = _resumed_run(args) if args.resume else _new_run(args)
    corpus, st = run.corpus, run.corpus.stats
    model = run.bundle.model
    print(f"corpus: {corpus.name}: {st.chars:,} chars, {st.distinct_chars} distinct, {st.words:,} words, {st.lines:,} lines, {st.poems:,} poems")
    print(f"split: {len(run.train_text):,} train / {len(run.val_text):,} validation chars; model: {model.config.cell.upper()} "
          f"{model.config.layers}x{model.config.hidden}, {model.num_params():,} parameters")
    out = args.out or args.resume
    # One kind of run directory: the best model reaches the disk as validation improves (atomically),
    # and a resume checkpoint at least every --checkpoint-every seconds, so `kill -9` loses little.
    recorder = RunRecorder(out, run, args.checkpoint_every,
                           on_checkpoint=lambda step, s: bar.write(f"checkpoint at step {step} ({s * 1000:.0f} ms)"))
    recorder.begin()
    metrics_path = out / METRICS
    tc = run.trainer.config
    total = tc.epochs * run.trainer.steps_per_epoch if tc.epochs else tc.max_steps
    bar = tqdm(total=int(total) if total else None, initial=run.trainer.step, unit="step", dynamic_ncols=True,
               file=sys.stderr, mininterval=1.0)

    def on_step(trainer, p):
        bar.update(1)
        bar.set_postfix(loss=f"{p.train_loss:.3f}", best=f"{p.best_val:.3f}" if p.best_val else "-", refresh=False)

    def on_eval(trainer, p):
        bar.write(f"step {p.step:>6} | epoch {p.epoch:5.2f} | {p.elapsed:6.0f}s | train {p.train_loss:.3f} nats ({p.train_loss / LN2:.3f} bits)"
                  f" | val {p.val_loss:.3f} nats ({p.val_loss / LN2:.3f} bits) | best {p.best_val:.3f}")
        if not args.no_samples:
            for s in sample(trainer.model, run.bundle.vocab, "", SampleConfig(temperatures=(0.5, 1.0), max_chars=160, seed=p.step)):
                bar.write(f"  [T={s.temperature:g}] " + s.continuation.replace("\n", "\n           "))

    run.trainer.add_callback("on_step", on_step)
    run.trainer.add_callback("on_eval", on_eval)
    try:
        result = run.trainer.fit()
    except Exception as e:
        recorder.fail(str(e) if isinstance(e, PoetryLabError) else f"internal error ({type(e).__name__}: {e})")
        raise
    finally:
        bar.close()
    path = recorder.finish(result)
    best = "n/a" if result.best_val is None else f"{result.best_val:.4f} nats ({result.best_val / LN2:.4f} bits) per char"
    print(f"done ({result.stop_reason}) after {result.steps} steps, {result.elapsed:.0f}s: best validation loss {best}")
    print(stop_message(result, tc))
    print(f"saved {path} and {metrics_path}")
    writer = _teach_writer(run, recorder, result)
    if writer.message:
        print(writer.message)
        if writer.facts.get("kept"):
            print(f"saved {out / WRITER_FILE}")
    return 0


def _teach_writer(run, recorder, result):
    """runs.writer.teach_writer with a line on stderr every few seconds (Ctrl-C stops it, keeping the model)."""
    import time

    from poetry_lab.runs.writer import progress_message, teach_writer

    total, shown = run.writer_tuning.seconds, [-math.inf]

    def on_progress(seconds: float, steps: int) -> None:
        if time.perf_counter() - shown[0] >= 10 or steps == 0:
            print(f"{progress_message(seconds, total)} ({steps} steps)", file=sys.stderr, flush=True)
            shown[0] = time.perf_counter()

    return teach_writer(run, recorder, result, on_progress=on_progress)


def cmd_runs(args: argparse.Namespace) -> int:
    from poetry_lab.runs.listing import find_runs
    from poetry_lab.settings import home_dir

    home = args.home or home_dir()
    found = find_runs(home)
    if args.json:
        print(json.dumps([{**r.to_json(), "path": str(r.path)} for r in found], ensure_ascii=False, indent=2))
        return 0
    if not found:
        print(f"no runs under {home}")
        return 0
    print(f"{'run':<10} {'status':<11} {'steps':>7} {'best val':>9} {'min left':>8}  {'started':<24} corpus / path")
    for r in found:
        best = "-" if r.best_val_loss is None else f"{r.best_val_loss:.4f}"
        left = "-" if r.minutes_left is None else f"{r.minutes_left:.1f}"
        print(f"{r.id:<10} {r.status:<11} {r.steps if r.steps is not None else '-':>7} {best:>9} {left:>8}  {r.started:<24} "
              f"{r.corpus}\n{'':<74}{r.path}" + (f"\n{'':<74}({r.problem})" if r.problem else ""))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.core.sampling import SampleConfig, sample

    bundle = load_model(args.model)
    chars = args.chars if args.chars is not None else (2000 if args.lines else 400)
    cfg = SampleConfig(temperatures=args.temperatures, max_chars=chars, lines=args.lines, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    samples = sample(bundle.model, bundle.vocab, args.prompt, cfg)
    if samples and samples[0].unknown_chars:
        print(f"note: the model has never seen {''.join(samples[0].unknown_chars)!r}; it reads them as unknown", file=sys.stderr)
    if args.json:
        rows = [{"temperature": s.temperature, "text": s.text, "bits_per_char": round(s.bits_per_char, 4)} for s in samples]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for s in samples:
            print(f"=== temperature {s.temperature:g} ===\n{s.text.rstrip()}\n")
    return 0


def cmd_compose(args: argparse.Namespace) -> int:
    from poetry_lab.compose import ComposeConfig, Composer
    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.settings import default_model_path

    bundle = load_model(default_model_path() if args.model == "default" else Path(args.model), device="cpu")
    about = args.about
    if args.theme is not None:
        if about:
            raise PoetryLabError("Name a subject (--about) or a theme (--theme), not both.")
        if not (args.corpus or bundle.facts.get("corpus")):
            raise PoetryLabError("--theme needs the poems whose themes it means: give them with --corpus.")
        about = _theme_subject(args.corpus or bundle.facts["corpus"], args.theme, args.themes)
    cfg = ComposeConfig(form=args.form, lines=args.lines, temperature=args.temperature, seed=args.seed,
                        **({} if args.candidates is None else {"candidates": args.candidates}), beam=args.beam,
                        prompt=args.prompt.replace("\\n", "\n").replace(" / ", "\n"), raw=args.raw,
                        letters=args.letters, about=about)
    index = _copy_index(args.corpus or bundle.facts.get("corpus"), given=bool(args.corpus))
    poem = Composer(bundle, corpus=index).compose(cfg)
    if args.json:
        print(json.dumps(poem.to_json(), ensure_ascii=False, indent=2))
        return 0
    print(poem.text)
    slant = [str(k + 1) for k, line in enumerate(poem.lines) if line.rhyme_quality in ("slant", "none")]
    by = {"words": "word by word (the writer)", "letters": "letter by letter"}[poem.writer]
    on = f"{poem.on}, " if poem.on else ""
    print(f"\n({poem.form}, {on}temperature {poem.temperature:g}, seed {poem.seed}, {by}, {poem.seconds:.1f} s"
          + (f"; line {', '.join(slant)} settled for a slant rhyme or none" if slant else "") + ")", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.core.train import evaluate
    from poetry_lab.data.corpus import load_corpus

    bundle = load_model(args.model)
    text = load_corpus([args.textfile]).text
    nats = evaluate(bundle.model, bundle.vocab.encode(text))  # 32 streams, each reading 256 characters of context first
    out = {"nats_per_char": nats, "bits_per_char": nats / LN2, "chars": len(text)}
    print(json.dumps(out) if args.json else f"{nats:.4f} nats/char  {nats / LN2:.4f} bits/char  over {len(text):,} chars")
    return 0


def cmd_corpora(args: argparse.Namespace) -> int:
    from poetry_lab.data import catalog

    if args.corpora_command == "list":
        print(catalog.format_catalog_table(catalog.available_corpora()))
    else:
        path = catalog.fetch_corpus(args.name)
        print(f"fetched {args.name}: {path}")
    return 0


def cmd_analyse(args: argparse.Namespace) -> int:
    from poetry_lab.analysis.poetics import analyse_text, to_json
    from poetry_lab.data.corpus import load_corpus

    poems = analyse_text(load_corpus([args.poem_file]).text)
    if not poems:
        raise PoetryLabError(f"'{args.poem_file}' has no lines of verse to analyse.")
    if args.json:
        print(json.dumps(to_json(poems), ensure_ascii=False, indent=2))
        return 0
    for k, poem in enumerate(poems, 1):
        print(f"=== poem {k}: {poem.metre} (regularity {poem.metre_score:.2f}), rhyme {poem.rhyme_scheme} ===")
        for line in poem.lines:
            note = f"   [not in the dictionary: {', '.join(line.unknown_words)}]" if line.unknown_words else ""
            print(f"{line.rhyme} {line.syllables:>2} {line.stress:<14} {line.text.strip()}{note}")
        print()
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from poetry_lab.analysis.lens import sweep
    from poetry_lab.analysis.metrics import COPY_CHECK_MAX_CHARS
    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.figures.lens import sweep_figure

    bundle = load_model(args.model)
    index = _copy_index(args.corpus or bundle.facts.get("corpus"), given=bool(args.corpus))
    if index is None:
        print(f"note: copying is not measured: the training text was not found, or it is over {COPY_CHECK_MAX_CHARS:,} "
              "characters (give it with --corpus)", file=sys.stderr)
    df = sweep(bundle.model, bundle.vocab, args.temperatures, args.samples, args.chars,
               args.seed, index, args.prompt)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "sweep.csv", index=False)
    sweep_figure(df, title=f"Temperature sweep: {args.model.name}").write_html(args.out / "sweep.html", include_plotlyjs=True)
    print(df.drop(columns=["sample", "text"]).groupby("temperature").mean().round(3).to_string())
    print(f"saved {args.out / 'sweep.html'} and {args.out / 'sweep.csv'}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.core.distributed import process_group
    from poetry_lab.runs.pretrain import PretrainConfig, pretrain

    if args.threads:
        torch.set_num_threads(args.threads)
    minutes = args.minutes if args.minutes is not None or args.resume else (None if args.max_steps else 30.0)
    cfg = PretrainConfig(
        direction=args.direction, val_chars=args.val_chars, max_chars=args.max_chars,
        model={"hidden": args.hidden, "emb_dim": args.emb_dim, "layers": args.layers, "dropout": args.dropout},
        train={"minutes": minutes, "max_steps": args.max_steps, "batch_size": args.batch_size, "seq_len": args.seq_len,
               "lr": args.lr, "warmup_steps": args.warmup_steps, "eval_every_s": args.eval_every_s, "seed": args.seed},
    )
    start = load_model(args.start) if args.start else None
    with process_group() as env:  # torchrun's processes (DistributedDataParallel), or just this one
        # args.out is rewritten at every improvement, so a killed run leaves its best model and card
        bundle, facts = pretrain(args.corpus, cfg, log=lambda m: print(m, flush=True), env=env, out=args.out, start=start,
                                 resume=args.resume, checkpoint_every_s=args.checkpoint_every)
        if not env.is_main:
            return 0
    print(f"saved {args.out} and {args.out.with_suffix('.json')}: validation {facts['best_val_loss']:.4f} nats/char "
          f"({facts['best_val_bits_per_char']:.4f} bits)")
    return 0


def _theme_subject(corpus: str, theme: int, n_themes: int) -> str:
    """Theme `theme` (1-based) of the poems of `corpus`, found by the default method as `themes` finds
    it, as a subject (compose.subject.theme_subject: its top words)."""
    from poetry_lab.compose.subject import theme_subject
    from poetry_lab.data.corpus import load_corpus
    from poetry_lab.themes.methods import DEFAULT_METHOD, compare_methods, plan_themes

    plan = plan_themes(load_corpus([corpus]).poems, DEFAULT_METHOD, n_themes)
    if not 1 <= theme <= plan.n_themes:
        raise PoetryLabError(f"--theme must be one of 1 to {plan.n_themes}: the poems are sorted into {plan.n_themes} themes.")
    _, fitted = compare_methods(plan.poems, plan.n_themes, methods=(DEFAULT_METHOD,))
    return theme_subject([w for w, _ in fitted[DEFAULT_METHOD].top_words_[theme - 1]])


def cmd_themes(args: argparse.Namespace) -> int:
    from poetry_lab.core.checkpoint import load_model
    from poetry_lab.data.corpus import load_corpus
    from poetry_lab.figures.themes import comparison_figure, theme_map, top_words_figure
    from poetry_lab.themes.embeddings import backward_twin
    from poetry_lab.themes.methods import (
        LM_METHODS,
        METHODS,
        auto_n_themes,
        compare_methods,
        plan_themes,
    )

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.k != "auto" and not args.k.isdigit():
        raise PoetryLabError(f"--k must be a whole number or 'auto', not '{args.k}'.")
    plan = plan_themes(load_corpus([args.corpus]).poems, args.method, None if args.k == "auto" else int(args.k))
    poems, methods = plan.poems, plan.methods
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if plan.n_themes is None:
        k = auto_n_themes(poems, args.seed)
        print(f"note: {k} themes (the best silhouette of K-means on TF-IDF, from 2 to 10)", file=sys.stderr)
    else:
        k = plan.n_themes
    forward = backward = None
    if set(LM_METHODS) & set(methods):
        forward = load_model(args.model, device="cpu") if args.model else None
        twin = args.backward or (backward_twin(args.model) if args.model else None)
        backward = load_model(twin, device="cpu") if twin else None
    table, fitted = compare_methods(poems, k, forward, backward, args.seed, methods,
                                    backward_steps=args.backward_steps, backward_seconds=args.backward_seconds)
    if args.json:
        def plain(v):  # NaN (a silhouette with one theme left) is not JSON
            return None if isinstance(v, float) and math.isnan(v) else v

        print(json.dumps([{"name": m, "description": METHODS[m], **{key: plain(v) for key, v in p.scores().items() if key != "method"}}
                          for m, p in fitted.items()], ensure_ascii=False, indent=2))
    else:
        cols = ["method", "coherence_npmi", "coherence_npmi_chance", "diversity", "silhouette", "silhouette_words", "sizes", "seconds"]
        print(f"{len(poems)} poems, {k} themes\n" + table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        for m, p in fitted.items():
            print(f"\n=== {m}: {METHODS[m]} ===")
            for row in p.summary().itertuples():
                print(f"theme {row.theme + 1} [{row.label}] ({row.size} poems): {row.top_words}\n    typical: {row.typical_lines}")
    if args.html:
        args.html.mkdir(parents=True, exist_ok=True)
        comparison_figure(table).write_html(args.html / "comparison.html", include_plotlyjs=True)
        for m, p in fitted.items():
            theme_map(p.map_points(), title=f"Poems by theme: {METHODS[m]}").write_html(args.html / f"map_{m}.html", include_plotlyjs=True)
            top_words_figure(p.top_words_, p.sizes_.tolist(), title=f"Top words: {METHODS[m]}").write_html(
                args.html / f"words_{m}.html", include_plotlyjs=True)
        print(f"saved comparison.html, map_*.html and words_*.html in {args.html}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "runs": cmd_runs, "generate": cmd_generate, "evaluate": cmd_evaluate, "corpora": cmd_corpora,
                "analyse": cmd_analyse, "sweep": cmd_sweep, "compose": cmd_compose, "pretrain": cmd_pretrain,
                "themes": cmd_themes}
    try:
        return handlers[args.command](args)
    except PoetryLabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
