"""Limits that keep a shared server responsive, read from the environment at the moment of use.

The command line is a local tool and applies none of them; the app's Lab applies all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 10.0  # per file; Gradio's max_file_size enforces the same number
    max_files: int = 20
    max_minutes: float = 60.0  # one training job's time budget
    max_parameters: int = 20_000_000  # a model larger than this trains too slowly on a shared CPU
    max_distinct_chars: int = 10_000  # CJK poetry fits; a file of random code points does not
    max_prompt_chars: int = 2_000  # a longer prompt keeps its end; the comparison view analyses it with each poem

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def current_limits() -> Limits:
    return Limits(
        max_upload_mb=_env("POETRY_LAB_MAX_UPLOAD_MB", 10.0),
        max_files=int(_env("POETRY_LAB_MAX_FILES", 20)),
        max_minutes=_env("POETRY_LAB_MAX_MINUTES", 60.0),
        max_parameters=int(_env("POETRY_LAB_MAX_PARAMETERS", 20_000_000)),
        max_distinct_chars=int(_env("POETRY_LAB_MAX_DISTINCT_CHARS", 10_000)),
        max_prompt_chars=int(_env("POETRY_LAB_MAX_PROMPT_CHARS", 2_000)),
    )
