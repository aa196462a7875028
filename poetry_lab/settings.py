"""Every setting Poetry Lab reads from its environment, read in one place, and where its shipped files are.

`current()` reads the environment when asked (so a test or a server started with new variables sees
them); nothing else in the package reads `os.environ` for Poetry Lab's own variables.

| variable | meaning | default |
|---|---|---|
| POETRY_LAB_HOME | where runs, downloads and fetched corpora are kept | /data/poetry_lab on a Space with a bucket at /data, else ~/.poetry_lab |
| POETRY_LAB_DEFAULT_MODEL | the model a session starts with | the shipped poetry base (pretrained/) |
| POETRY_LAB_CORPORA | extra folders to look for corpora in (os.pathsep-separated) | none |
| POETRY_LAB_MAX_JOBS | trainings that may run at once in one app process | 1 |
| POETRY_LAB_SESSION_IDLE_S | a session without an open page (an API call, a closed tab) is forgotten after this many idle seconds | 900 |
| POETRY_LAB_MAX_SESSIONS | sessions without an open page kept at once; the least recently used goes first | 50 |
| POETRY_LAB_CPU_WORKERS | poems, comparisons, sweeps and themes written at once (one queue for all of them) | 2 |
| POETRY_LAB_QUEUE_SIZE | requests that may wait in that queue; one more is told the app is busy | 6 |
| POETRY_LAB_BROWSER_SECRET | the key Gradio encrypts the browser's visitor id with | a fixed string |
| POETRY_LAB_MAX_UPLOAD_MB, _MAX_FILES, _MAX_MINUTES, _MAX_PARAMETERS, _MAX_DISTINCT_CHARS, _MAX_PROMPT_CHARS | Limits below | see Limits |

The command line is a local tool and applies none of the Limits; the app's session applies all of them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
LN2 = math.log(2)  # nats per bit: losses are kept in nats and shown in both
MAX_FILE_PARAMETERS = 50_000_000  # a model file larger than this is refused before loading (files built to exhaust memory)


def shipped(*parts: str) -> Path:
    """A file that ships with Poetry Lab: the installed package's copy (a wheel carries one under
    poetry_lab/_shipped), else the source tree's (`pretrained/`, `corpora/` beside the package)."""
    packaged = PACKAGE.joinpath("_shipped", *parts)
    return packaged if packaged.exists() else PACKAGE.parent.joinpath(*parts)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        return default
    return value if value > 0 and math.isfinite(value) else default


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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(
            max_upload_mb=_number(env, "POETRY_LAB_MAX_UPLOAD_MB", 10.0),
            max_files=int(_number(env, "POETRY_LAB_MAX_FILES", 20)),
            max_minutes=_number(env, "POETRY_LAB_MAX_MINUTES", 60.0),
            max_parameters=int(_number(env, "POETRY_LAB_MAX_PARAMETERS", 20_000_000)),
            max_distinct_chars=int(_number(env, "POETRY_LAB_MAX_DISTINCT_CHARS", 10_000)),
            max_prompt_chars=int(_number(env, "POETRY_LAB_MAX_PROMPT_CHARS", 2_000)),
        )


def _home(env: Mapping[str, str]) -> Path:
    if env.get("POETRY_LAB_HOME"):
        return Path(env["POETRY_LAB_HOME"]).expanduser()
    if env.get("SPACE_ID") and os.path.ismount("/data") and os.access("/data", os.W_OK):
        return Path("/data/poetry_lab")  # a storage bucket mounted where the Hub's guide mounts it
    return Path.home() / ".poetry_lab"


def on_mounted_volume(path: Path) -> bool:
    """Whether `path` (or the folder it will be made in) lies on a file system mounted below the root: on a
    Space, a storage bucket; the Space's own disk is its root file system, wiped at every restart."""
    path = path.resolve()
    for folder in (path, *path.parents):
        if folder == Path(folder.anchor):
            return False
        if os.path.ismount(folder):
            return True
    return False


def _default_model(env: Mapping[str, str]) -> Path:
    if env.get("POETRY_LAB_DEFAULT_MODEL"):
        return Path(env["POETRY_LAB_DEFAULT_MODEL"])
    base = shipped("pretrained", "base_forward.safetensors")
    return base if base.is_file() else shipped("pretrained", "default.safetensors")


@dataclass(frozen=True)
class Settings:
    home: Path
    default_model: Path
    corpora_dirs: tuple[Path, ...] = ()  # POETRY_LAB_CORPORA, most preferred first
    max_jobs: int = 1
    session_idle_s: float = 900.0  # a session nobody's page holds (bare API calls) is freed after this long unused
    max_sessions: int = 50  # ... and at most this many are kept: ~4 MB each with 1 MB of pasted text (bench_sessions)
    cpu_workers: int = 2  # one per core of a free Space: more only share the same two cores (benchmarks/load_test.py)
    # Waiting requests. 20 visitors (3 s pauses, 30% sonnets) while one trains, 2 workers: compose p95 8.8 s
    # at 6 (busy answers within 1 s), 11.0 s at 8, 12.4 s at 12; 1 worker: 16.9 s (benchmarks/load_test.py)
    queue_size: int = 6
    browser_secret: str = "poetry-lab-visitor-id"
    limits: Limits = field(default_factory=Limits)
    on_space: bool = False  # a Hugging Face Space (SPACE_ID is set): its disk is wiped at every restart

    @property
    def runs_outlive_restarts(self) -> bool:
        """Whether runs kept under `home` survive a restart: anywhere off a Space; on a Space, only on a
        mounted storage bucket (the Hub's persistent storage upgrade is no more)."""
        return not self.on_space or on_mounted_volume(self.home)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            home=_home(env),
            default_model=_default_model(env),
            corpora_dirs=tuple(Path(p).expanduser() for p in env.get("POETRY_LAB_CORPORA", "").split(os.pathsep) if p),
            max_jobs=max(1, int(_number(env, "POETRY_LAB_MAX_JOBS", 1))),
            session_idle_s=_number(env, "POETRY_LAB_SESSION_IDLE_S", 900.0),
            max_sessions=max(1, int(_number(env, "POETRY_LAB_MAX_SESSIONS", 50))),
            cpu_workers=max(1, int(_number(env, "POETRY_LAB_CPU_WORKERS", 2))),
            queue_size=max(1, int(_number(env, "POETRY_LAB_QUEUE_SIZE", 6))),
            browser_secret=env.get("POETRY_LAB_BROWSER_SECRET") or "poetry-lab-visitor-id",
            limits=Limits.from_env(env),
            on_space=bool(env.get("SPACE_ID")),
        )


def current() -> Settings:
    """The settings as the environment says now."""
    return Settings.from_env()


def current_limits() -> Limits:
    return Limits.from_env(os.environ)


def home_dir() -> Path:
    return current().home


def default_model_path() -> Path:
    """The model a session starts with: POETRY_LAB_DEFAULT_MODEL, else the shipped poetry base, else
    the Sonnets stand-in."""
    return current().default_model
