"""Pure helpers that turn a Session's answers into Markdown or HTML for widgets. Every text from a user or a
model goes through html.escape; line breaks survive through `white-space: pre-wrap` (see CSS).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import fields

import pandas as pd

from poetry_lab.analysis.lens import CharConfidence, CopiedPassage
from poetry_lab.analysis.poetics import LineAnalysis, PoemAnalysis
from poetry_lab.app.results import PoemNumbers, PoemView
from poetry_lab.figures.themes import theme_colour
from poetry_lab.runs.jobs import JobSnapshot
from poetry_lab.settings import LN2
from poetry_lab.themes.words import first_line

SAMPLES_SHOWN = 12  # training samples kept on screen, newest first
STANZA_WHOLE = 6  # rhyme letters are grouped by stanza; longer stanzas in fours, as a sonnet is read
_BEATS = {"1": "/", "0": "x", "2": "\\", "?": "?"}  # scansion marks: stressed, unstressed, secondary, unknown
STEADY_METRE = 0.5  # below this regularity, naming a metre would mislead (prose, gibberish)
_SHOW = {"\n": "↵", " ": "␣", "\t": "⇥"}  # how a space, a tab or a line break is named in the confidence tooltips
NO_RESULTS = '<p class="pl-muted">Press “Write poems” to see the model write at each temperature.</p>'


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _number(value, fmt: str = "{:.2f}", missing: str = "n/a") -> str:
    return missing if value is None or (isinstance(value, float) and not math.isfinite(value)) else fmt.format(value)


def duration(seconds: float | None) -> str:
    """12 s, 3:05, 1:02:03."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def loss_text(nats: float | None) -> str:
    """A loss in nats per character with its value in bits per character."""
    if nats is None or not math.isfinite(nats):
        return "not measured yet"
    return f"{nats:.3f} nats/char ({nats / LN2:.2f} bits/char)"


# --- corpus ---------------------------------------------------------------------------------
def corpus_stats_markdown(stats: dict, name: str = "") -> str:
    head = f"**{_esc(name)}**\n\n" if name else ""
    return head + (
        "| characters | distinct characters | words | lines | poems |\n|---:|---:|---:|---:|---:|\n"
        f"| {stats['chars']:,} | {stats['distinct_chars']:,} | {stats['words']:,} | {stats['lines']:,} | {stats['poems']:,} |"
    )


def warnings_markdown(warnings: Sequence[str]) -> str:
    """The corpus notes (Session.corpus_warnings): things to know, not errors, so no warning sign."""
    if not warnings:
        return "Ready to train on: nothing to note about this text."
    return "\n".join(f"- {_esc(w)}" for w in warnings)


def preview_html(poems: Sequence[str]) -> str:
    if not poems:
        return '<p class="pl-muted">No poems to preview.</p>'
    return '<div class="pl-preview">' + "".join(f'<pre class="pl-poem">{_esc(p)}</pre>' for p in poems) + "</div>"


# --- training -------------------------------------------------------------------------------
def progress_markdown(snap: JobSnapshot) -> str:
    """One line for the training status: what happens now, and how far it got."""
    if snap.state == "idle":
        return snap.message or "No training yet."
    state = {"running": "Training", "done": "Finished", "stopped": "Stopped", "error": "Training failed"}.get(snap.state, snap.state)
    parts = [f"step {snap.step:,}", f"epoch {snap.epoch:.2f}", f"best validation loss {loss_text(snap.best_val_loss)}",
             f"elapsed {duration(snap.elapsed_s)}"]
    if snap.state == "running":
        parts.append(f"about {duration(snap.eta_s)} left" if snap.eta_s is not None else "time left: estimating")
    line = f"**{state}** · " + " · ".join(parts)
    return f"{line}\n\n{_esc(snap.message)}" if snap.message else line


def samples_html(samples: Sequence[tuple[int, float, str]], limit: int = SAMPLES_SHOWN) -> str:
    """The samples written during training, newest first, each labelled with its step and temperature."""
    if not samples:
        return '<p class="pl-muted">Samples appear here after each check of the validation text.</p>'
    items = [f'<div class="pl-sample"><div class="pl-sample-head">step {step:,} · temperature {temp:g}</div>'
             f'<pre class="pl-poem">{_esc(text)}</pre></div>'
             for step, temp, text in sorted(list(samples)[-limit:], key=lambda s: (-s[0], s[1]))]  # newest step first
    return '<div class="pl-samples">' + "".join(items) + "</div>"


# --- comparison -----------------------------------------------------------------------------
def _share(value) -> str:
    return "n/a (training text unknown)" if value is None else f"{value:.0%}"


def _metrics_rows(r: PoemNumbers) -> str:
    rows = [("surprise (bits per character)", _number(r.bits_per_char)),
            ("copied 4-word phrases", _share(r.copied_4gram_share)),
            ("distinct word pairs", _number(r.distinct_2, "{:.0%}")),
            ("repeated lines", _number(r.repeated_lines, "{:d}"))]
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)


def numbers_frame(poems: Sequence[PoemNumbers]) -> pd.DataFrame:
    """The poems' numbers, one row per poem, for figures.training.temperature_bars."""
    return pd.DataFrame([{f.name: getattr(p, f.name) for f in fields(PoemNumbers)} for p in poems])


def verse_rows(text: str, analysis: PoemAnalysis | None) -> list[tuple[str, LineAnalysis | None]]:
    """Each line of `text` with its line analysis (None for blank lines and headings), matched in order."""
    lines, k, out = analysis.lines if analysis is not None else [], 0, []
    for line in text.split("\n"):
        found = k < len(lines) and line.rstrip() == lines[k].text
        out.append((line, lines[k] if found else None))
        k += found
    return out


def rhyme_groups(rows: Sequence[tuple[str, LineAnalysis | None]]) -> str:
    """The rhyme letters as a poet reads them: a space between stanzas, long stanzas in fours ("ABAB CDCD EFEF GG")."""
    stanzas, current = [], ""
    for _, line in [*rows, ("", None)]:
        if line is not None:
            current += line.rhyme
        elif current:
            stanzas.append(current)
            current = ""
    groups = [g for st in stanzas for g in ([st] if len(st) <= STANZA_WHOLE else [st[i:i + 4] for i in range(0, len(st), 4)])]
    return " ".join(groups)


def _scan_line(line: str, a: LineAnalysis | None) -> str:
    """One line of the poem; a verse line carries its rhyme letter and syllables (shown in the margin by CSS)."""
    if a is None:
        return f'<div class="pl-line">{_esc(line) or "<br>"}</div>'
    beats = " ".join(_BEATS.get(c, c) for c in a.stress)
    title = f"{a.syllables} syllables: {beats} · fits the metre {a.metre_score:.2f}"
    if a.unknown_words:
        title += " · not in the dictionary: " + ", ".join(a.unknown_words)
    return (f'<div class="pl-line" data-scan="{_esc(a.rhyme)} {a.syllables}" title="{_esc(title)}">'
            f'{_esc(line) or "<br>"}</div>')


def poetics_html(analysis: PoemAnalysis | None, rows: Sequence[tuple[str, LineAnalysis | None]]) -> str:
    """The rhyme scheme and the metre with its regularity, over the poem."""
    if analysis is None or not analysis.metre:
        return '<div class="pl-scan pl-muted">no lines of verse to scan</div>'
    score, metre = analysis.metre_score, _esc(analysis.metre)
    metre = f"{metre}, <b>{score:.2f}</b>" if score >= STEADY_METRE else f"no steady metre (nearest: {metre}, {score:.2f})"
    return (f'<div class="pl-scan"><span title="lines with the same letter rhyme">rhyme <b>{_esc(rhyme_groups(rows))}</b></span>'
            f'<span title="how regularly the lines keep this metre: 1.00 is every line">{metre}</span></div>')


def _column(r: PoemNumbers, body: str, extra: str = "") -> str:
    return f'<div class="pl-col"><h3>temperature {float(r.temperature):g}</h3>{body}{extra}</div>'


def _columns(cols: Sequence[str], head: str = "") -> str:
    return f'{head}<div class="pl-columns" style="--pl-cols:{len(cols)}">' + "".join(cols) + "</div>"


def compare_html(poems: Sequence[PoemView]) -> str:
    """The poems side by side: one column per temperature, rhyme and metre over the text, its numbers under it.

    With an analysis, each verse line shows its rhyme letter and syllables in the margin.
    """
    if not poems:
        return NO_RESULTS
    cols = []
    for r in poems:
        copied = (f'<div class="pl-copy"><span>longest passage copied from the training text:</span>'
                  f'<q>{_esc(r.longest_copy)}</q></div>' if r.longest_copy else "")
        if r.analysis is None:
            poem = f'<pre class="pl-poem">{_esc(r.text)}</pre>'
        else:
            rows = verse_rows(r.text, r.analysis)
            poem = poetics_html(r.analysis, rows) + '<div class="pl-poem pl-scanned">' + "".join(_scan_line(*row) for row in rows) + "</div>"
        cols.append(_column(r, poem, f'<table class="pl-metrics">{_metrics_rows(r)}</table>{copied}{_theme_line(r)}'))
    return _columns(cols)


def _theme_line(r: PoemView) -> str:
    """The poem's place among the corpus themes (after a run in the Themes tab)."""
    t = r.theme
    if t is None:
        return ""
    return (f'<div class="pl-copy pl-theme"><span>theme {t.theme} ({_esc(t.label)}): {_esc(", ".join(t.words))}; '
            f'nearest poem in your corpus:</span><q>{_esc(t.nearest)}</q></div>')


CONFIDENCE_LEGEND = ('<div class="pl-legend">Each letter the model wrote, coloured by the chance it gave that letter: '
                     '<span class="pl-ramp"><span>surprising</span><span>expected</span></span> '
                     'Hover a letter to see the likeliest letters it chose between. Your prompt is in grey.</div>')


def confidence_columns(poems: Sequence[PoemView]) -> str:
    """The confidence view: each generated letter on a colour from surprising (red) to expected (blue)."""
    if not poems:
        return NO_RESULTS
    cols = []
    for r in poems:
        n, items = r.prompt_len, r.confidence
        rest = r.text[n + len(items):]  # beyond session.LENS_CHARS: shown plainly
        body = (f'<span class="pl-prompt">{_esc(r.text[:n])}</span>{confidence_html(items)}'
                + (f'<span class="pl-rest" title="not coloured: too long">{_esc(rest)}</span>' if rest else ""))
        cols.append(_column(r, f'<div class="pl-lens-text">{body}</div>'))
    return _columns(cols, CONFIDENCE_LEGEND)


COPIES_LEGEND = ('<div class="pl-legend">Passages of 20 characters or more that also occur, letter for letter, in the '
                 'training text are <mark>marked</mark>. Hover one, or open the list under the poem, to read the poem it comes from.</div>')


def _source_html(h: CopiedPassage, prompt_len: int = 0) -> str:
    """One copied passage, opening onto the training poem it comes from with the passage marked."""
    src, at = h.source, h.corpus_start - h.source_start
    end = at + len(h.text)
    shown = h.text if len(h.text) <= 60 else h.text[:57] + "…"
    poem = (_esc(src[:at]) + f"<mark>{_esc(src[at:end])}</mark>" + _esc(src[end:])) if 0 <= at <= end <= len(src) else _esc(src)
    whose = ' <span class="pl-muted">(your prompt)</span>' if h.end <= prompt_len else ""
    return f'<details class="pl-source"><summary>“{_esc(shown)}”{whose}</summary><div class="pl-poem">{poem}</div></details>'


def copies_columns(poems: Sequence[PoemView]) -> str:
    """The copied-passages view: copies marked in the poem, and under it the training poems they come from."""
    if not poems:
        return NO_RESULTS
    cols = []
    for r in poems:
        if r.copies is None:
            note = '<p class="pl-muted">The training text of this model is unknown here, so copying cannot be checked.</p>'
        elif not r.copies:
            note = '<p class="pl-muted">Nothing copied: no passage of 20 characters or more is in the training text.</p>'
        else:
            note = ('<div class="pl-sources"><div class="pl-muted">Copied from the training text (open one to read its poem):</div>'
                    + "".join(_source_html(h, r.prompt_len) for h in r.copies) + "</div>")
        cols.append(_column(r, f'<div class="pl-lens-text">{copies_html(r.text, r.copies or [])}</div>', note))
    return _columns(cols, COPIES_LEGEND)


def compare_markdown(poems: Sequence[PoemView], prompt: str, settings: str, model: str = "") -> str:
    """The comparison as a Markdown document for download."""
    out = ["# Poetry Lab: one prompt at several temperatures", "", f"- prompt: {prompt!r}", f"- settings: {settings}"]
    if model:
        out.append(f"- model: {model}")
    for r in poems:
        out += ["", f"## temperature {float(r.temperature):g}", "", "```text", r.text, "```", "",
                f"- bits per character: {_number(r.bits_per_char, '{:.3f}')}",
                f"- copied 4-word phrases: {_share(r.copied_4gram_share)}",
                f"- longest copied passage: {r.longest_copy or '(none)'!r}",
                f"- distinct word pairs: {_number(r.distinct_2, '{:.3f}')}",
                f"- repeated lines: {_number(r.repeated_lines, '{:d}')}"]
        if r.analysis is not None and r.analysis.metre:
            out += [f"- rhyme scheme: {rhyme_groups(verse_rows(r.text, r.analysis))}",
                    f"- metre: {r.analysis.metre}, regularity {r.analysis.metre_score:.2f}"]
    return "\n".join(out) + "\n"


# --- poems in form -------------------------------------------------------------------------
NO_POEMS = '<p class="pl-muted">Press “Write poems” to read a poem in this form at each temperature.</p>'
RHYME_NOTE = {"slant": "a slant rhyme: no true rhyme fitted", "none": "no rhyme: none fitted"}


def _form_line(k: int, line) -> str:
    """One line of a poem in form, its number, rhyme letter and syllables in the margin; the poet's own in italics."""
    mark = {"slant": "~", "none": "×"}.get(line.rhyme_quality, "")
    scan = f"{line.rhyme if line.rhyme != '-' else ''}{mark} {line.syllables}".strip()
    title = [f"line {k + 1}: {line.syllables} syllables"]
    if line.metre_score is not None:
        title.append(f"fits the metre {line.metre_score:.2f}")
    if line.rhyme_quality in RHYME_NOTE:
        title.append(RHYME_NOTE[line.rhyme_quality])
    if line.given:
        title.append("your line")
    elif line.bits_per_char is not None:
        title.append(f"surprise {line.bits_per_char:.2f} bits per character")
    cls = "pl-line pl-yours" if line.given else "pl-line"
    return f'<div class="{cls}" data-scan="{_esc(scan)}" title="{_esc(" · ".join(title))}">{_esc(line.text) or "<br>"}</div>'


def poem_in_form_html(poem) -> str:
    """A poem in form (compose.Poem): stanzas, each line's rhyme letter and syllables in the margin."""
    rows = []
    for k, line in enumerate(poem.lines):
        if k and poem.stanzas[k] != poem.stanzas[k - 1]:
            rows.append('<div class="pl-line"><br></div>')
        rows.append(_form_line(k, line))
    return '<div class="pl-poem pl-scanned">' + "".join(rows) + "</div>"


def _form_numbers(poem) -> str:
    written = [line for line in poem.lines if not line.given]
    bits = [line.bits_per_char for line in written if line.bits_per_char is not None]
    rhymed = [line for line in written if line.rhyme_quality]
    true = sum(line.rhyme_quality == "true" for line in rhymed)
    rows = [("surprise (bits per character)", _number(sum(bits) / len(bits)) if bits else "n/a"),
            ("rhymes that truly rhyme", f"{true} of {len(rhymed)}" if rhymed else "none asked"),
            ("written in", f"{poem.seconds:.1f} s")]
    return '<table class="pl-metrics">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _subject(poem) -> str:
    """The poem's subject above it ("on: the sea at night"), the words that steered the writer on hover."""
    if not poem.on:
        return ""
    near = ", ".join(list(poem.related)[:16])
    title = f' title="{_esc("leaning to: " + near)}"' if near else ""
    return f'<p class="pl-about"{title}>{_esc(poem.on)}</p>'


def poems_in_form_html(poems: Sequence) -> str:
    """The poems side by side, one column per temperature."""
    if not poems:
        return NO_POEMS
    cols = []
    for poem in poems:
        how = "raw letters" if poem.raw else poem.form
        cols.append(f'<div class="pl-col"><h3>temperature {poem.temperature:g} · {_esc(how)}</h3>'
                    f"{_subject(poem)}{poem_in_form_html(poem)}{_form_numbers(poem)}</div>")
    return _columns(cols, '<div class="pl-legend">Each line\'s rhyme letter and syllables are in its margin '
                          '(~ a slant rhyme, × no rhyme fitted); your own lines are in italics. Hover a line for its numbers.</div>')


def candidates_frame(candidates: Sequence) -> pd.DataFrame:
    """The next best drafts for a line, best first, as a table."""
    return pd.DataFrame([[c.text, c.score, c.bits_per_char, c.syllables, None if c.metre_score is None else round(c.metre_score, 2)]
                         for c in candidates], columns=CANDIDATE_COLUMNS)


CANDIDATE_COLUMNS = ["line", "score (higher is better)", "surprise (bits/char)", "syllables", "fits the metre"]


def poem_markdown(poems: Sequence, settings: str) -> str:
    """The poems in form as a Markdown document for download."""
    out = ["# Poetry Lab: poems in form", "", f"- settings: {settings}"]
    for poem in poems:
        out += ["", f"## temperature {poem.temperature:g} ({'raw letters' if poem.raw else poem.form})", ""]
        out += [poem.on, ""] if poem.on else []
        out += ["```text", poem.text, "```"]
    return "\n".join(out) + "\n"


# --- themes ---------------------------------------------------------------------------------
NO_THEMES = '<p class="pl-muted">Press “Find themes” to sort the poems of your corpus into themes.</p>'
NO_PLACED = ('<p class="pl-muted">Write poems in <b>Write a poem</b> or <b>Compare temperatures</b>, then find themes again: each poem appears '
             'here, and as a star on the map, with its theme and the poems of your corpus nearest to it.</p>')
METHOD_COLUMNS = {"description": "method", "coherence_npmi": "coherence (NPMI)", "coherence_npmi_chance": "random themes",
                  "diversity": "distinct words", "silhouette_words": "silhouette (shared words space)",
                  "silhouette": "silhouette (own space)", "sizes": "poems per theme", "seconds": "seconds"}


def _poem_details(poem: str) -> str:
    """A poem's first line, opening onto the whole poem."""
    return (f'<details class="pl-source"><summary>{_esc(first_line(poem))}</summary>'
            f'<pre class="pl-poem">{_esc(poem)}</pre></details>')


def _theme_head(theme: int, words: Sequence[str], extra: str = "") -> str:
    return (f'<div class="pl-theme"><span class="pl-swatch" style="background:{theme_colour(theme)}"></span>'
            f'<b>theme {theme + 1}</b>{extra}<div class="pl-words">{_esc(", ".join(words))}</div></div>')


def themes_html(report) -> str:
    """One card per theme (app.results.ThemeReport): its colour on the map, top words, most typical poems (each opens)."""
    if report is None:
        return NO_THEMES
    cards = [f'<div class="pl-col">{_theme_head(int(r.theme), [w for w, _ in report.top_words[r.theme][:8]], f": {_esc(r.label)} · {r.size} poems")}'
             '<div class="pl-muted">most typical poems (open one to read it):</div>'
             + "".join(_poem_details(report.poems[i]) for i in r.typical) + "</div>" for r in report.summary.itertuples()]
    return '<div class="pl-columns">' + "".join(cards) + "</div>"


def theme_choices(report) -> list[tuple[str, int]]:
    """The themes as a theme card's button offers them: ("2: time, beauty, live, self, life", 2), the words
    that become the poem's subject (compose.subject.theme_subject)."""
    from poetry_lab.compose.subject import theme_subject
    from poetry_lab.errors import PoetryLabError

    out = []
    for k, words in enumerate(report.top_words):
        try:
            out.append((f"{k + 1}: {theme_subject([w for w, _ in words])}", k + 1))
        except PoetryLabError:  # a theme without a word to write about is not offered
            continue
    return out


def _mixture(mixture: Sequence[float], topic_words) -> str:
    """The three largest topic shares (of at least 5%), each with its first words."""
    top = [t for t in sorted(range(len(mixture)), key=lambda t: -mixture[t])[:3] if mixture[t] >= 0.05]
    return "topic mixture: " + " · ".join(f"{mixture[t]:.0%} topic {t + 1} ({', '.join(w for w, _ in topic_words[t][:3])})" for t in top)


def placements_html(report) -> str:
    """Each poem of the last comparison: its theme, LDA topic mixture (if any) and nearest corpus poems."""
    if report is None or not report.placements:
        return NO_PLACED
    cards = []
    for label, p in zip(report.labels, report.placements):
        mix = f'<div class="pl-copy">{_esc(_mixture(p.mixture, report.topic_words))}</div>' if p.mixture and report.topic_words else ""
        near = "".join(_poem_details(report.poems[i]) for i, _, _ in p.nearest[:3])
        cards.append(f'<div class="pl-col"><h3>★ {_esc(label)}</h3><div class="pl-poem">{_esc(p.first_line)}</div>'
                     f'{_theme_head(p.theme, p.theme_words[:6])}{mix}<div class="pl-muted">nearest poems of your corpus:</div>{near}</div>')
    return '<div class="pl-columns">' + "".join(cards) + "</div>"


def methods_table(table: pd.DataFrame | None) -> pd.DataFrame:
    """compare_methods's table with a poet's column names, rounded."""
    if table is None or table.empty:
        return pd.DataFrame(columns=list(METHOD_COLUMNS.values()))
    out = table[list(METHOD_COLUMNS)].rename(columns=METHOD_COLUMNS)
    out["poems per theme"] = [" · ".join(map(str, s)) for s in out["poems per theme"]]
    return out.round(3)


def themes_status(report, description: str, seconds: float) -> str:
    """What was found, what the map shows, and any notes (a capped corpus, an automatic number of themes)."""
    took = f"{seconds:.1f} s" if seconds < 60 else duration(seconds)
    line = f"Found {report.n_themes} themes among {len(report.poems):,} poems ({description}) in {took}."
    if len(report.table) > 1:
        line = (f"Compared {len(report.table)} methods on {len(report.poems):,} poems, {report.n_themes} themes each, in {took}. "
                f"The map shows **{_esc(description)}**, whose top words go together most often above chance.")
    stars = (f" ★ marks the {len(report.placements)} poems of your last comparison." if report.placements
             else " Write poems in *Write a poem* or *Compare temperatures* to see where they fall.")
    return line + stars + "".join(f"\n\n{_esc(n)}" for n in report.notes)


# --- errors ---------------------------------------------------------------------------------
def problem(message: str) -> str:
    return f"⚠️ {_esc(message)}"


# --- the poet's lens: confidence per letter, copied passages (their CSS: .pl-confidence, .pl-copies) ---
def _show(char: str) -> str:
    return _SHOW.get(char, char)


def _colour(prob: float) -> str:
    """Warm (red, unlikely) through yellow to cool (blue, certain)."""
    return f"hsl({210 * min(max(prob, 0.0), 1.0):.0f}, 85%, 82%)"


def confidence_html(items: Sequence[CharConfidence]) -> str:
    """The text with each character on a background from warm (improbable) to cool (expected).

    Hovering shows the probability and the alternatives. Newlines are kept (shown as ↵ too).
    """
    spans = []
    for it in items:
        alts = ", ".join(f"{_show(c)} {p:.0%}" for c, p in it.top)
        title = f"{_show(it.char)}: {it.prob:.1%}" + (" (never seen in training)" if it.unknown else "")
        title += f" | likeliest: {alts}" if alts else ""
        shown = "↵\n" if it.char == "\n" else html.escape(it.char)
        spans.append(f'<span style="background:{_colour(it.prob)}" title="{html.escape(title, quote=True)}">{shown}</span>')
    return f'<div class="pl-confidence">{"".join(spans)}</div>'


def copies_html(generated: str, highlights: Sequence[CopiedPassage]) -> str:
    """`generated` with each copied passage in a <mark>; its title shows the poem it came from."""
    parts, pos = [], 0
    for h in sorted(highlights, key=lambda h: h.start):
        if h.start < pos:
            continue  # overlapping highlights: the first one wins
        source = h.source
        title = "Copied from the training text:\n" + (source if len(source) <= 400 else source[:400] + " …")
        parts.append(html.escape(generated[pos:h.start]))
        parts.append(f'<mark title="{html.escape(title, quote=True)}">{html.escape(generated[h.start:h.end])}</mark>')
        pos = h.end
    parts.append(html.escape(generated[pos:]))
    return f'<div class="pl-copies">{"".join(parts)}</div>'
