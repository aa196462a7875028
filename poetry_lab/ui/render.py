"""Pure helpers that turn Lab answers into Markdown or HTML for widgets. Every text from a user or a
model goes through html.escape; line breaks survive through `white-space: pre-wrap` (see CSS).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from poetry_lab.jobs import JobSnapshot

LN2 = math.log(2)
SAMPLES_SHOWN = 12  # training samples kept on screen, newest first


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
    if not warnings:
        return "No warnings: this text is ready to train on."
    return "\n".join(f"- ⚠️ {_esc(w)}" for w in warnings)


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


def _metrics_rows(r: dict) -> str:
    rows = [("surprise (bits per character)", _number(r.get("bits_per_char"))),
            ("copied 4-word phrases", _share(r.get("copied_4gram_share"))),
            ("distinct word pairs", _number(r.get("distinct_2"), "{:.0%}")),
            ("repeated lines", _number(r.get("repeated_lines"), "{:d}"))]
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)


def compare_html(results: Sequence[dict]) -> str:
    """The poems side by side: one column per temperature, its numbers under the text."""
    if not results:
        return '<p class="pl-muted">Press “Write poems” to see the model write at each temperature.</p>'
    cols = []
    for r in results:
        copy = r.get("longest_copy") or ""
        copied = (f'<div class="pl-copy"><span>longest passage copied from the training text:</span>'
                  f'<q>{_esc(copy)}</q></div>' if copy else "")
        cols.append(f'<div class="pl-col"><h3>temperature {float(r["temperature"]):g}</h3>'
                    f'<pre class="pl-poem">{_esc(r.get("text", ""))}</pre>'
                    f'<table class="pl-metrics">{_metrics_rows(r)}</table>{copied}</div>')
    return f'<div class="pl-columns" style="--pl-cols:{len(cols)}">' + "".join(cols) + "</div>"


def compare_markdown(results: Sequence[dict], prompt: str, settings: str, model: str = "") -> str:
    """The comparison as a Markdown document for download."""
    out = ["# Poetry Lab: one prompt at several temperatures", "", f"- prompt: {prompt!r}", f"- settings: {settings}"]
    if model:
        out.append(f"- model: {model}")
    for r in results:
        out += ["", f"## temperature {float(r['temperature']):g}", "", "```text", r.get("text", ""), "```", "",
                f"- bits per character: {_number(r.get('bits_per_char'), '{:.3f}')}",
                f"- copied 4-word phrases: {_share(r.get('copied_4gram_share'))}",
                f"- longest copied passage: {r.get('longest_copy') or '(none)'!r}",
                f"- distinct word pairs: {_number(r.get('distinct_2'), '{:.3f}')}",
                f"- repeated lines: {_number(r.get('repeated_lines'), '{:d}')}"]
    return "\n".join(out) + "\n"


# --- errors ---------------------------------------------------------------------------------
def problem(message: str) -> str:
    return f"⚠️ {_esc(message)}"
