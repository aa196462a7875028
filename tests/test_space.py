"""What a Hugging Face Space needs from this repository: the README's Space header agrees with the pins,
torch comes as the CPU build, and every binary file is one the Hub keeps in large-file storage."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line (comments, options and -r lines skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        found = re.match(r"\s*([A-Za-z0-9_.\-]+)==(\S+)", line)
        if found:
            out[found.group(1).lower()] = found.group(2)
    return out


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "the README must open with the Space's YAML header"
    header = text.split("---\n")[1]
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in header.splitlines() if ":" in line)}


def test_the_space_header_names_the_pinned_gradio_and_our_python():
    header = front_matter()
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert header["sdk_version"] == pins(ROOT / "requirements.txt")["gradio"]
    assert header["python_version"] == "3.11"


def test_a_space_installs_the_cpu_build_of_the_pinned_torch():
    pre = (ROOT / "pre-requirements.txt").read_text()
    assert re.search(r"^--(extra-)?index-url https://download\.pytorch\.org/whl/cpu\s*$", pre, re.M)
    version = pins(ROOT / "pre-requirements.txt")["torch"]
    public, _, local = version.partition("+")
    assert local == "cpu" and public == pins(ROOT / "requirements.txt")["torch"]


def test_every_binary_file_we_track_goes_to_large_file_storage():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    binary = [p for p in tracked if p and (ROOT / p).is_file() and b"\0" in (ROOT / p).read_bytes()[:8192]]
    assert binary, "no binary file found: the check would prove nothing"
    attrs = subprocess.run(["git", "check-attr", "filter", "--", *binary], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    outside = [line.split(":")[0] for line in attrs.splitlines() if not line.endswith(": lfs")]
    assert not outside, f"binary files the Hub would refuse without an LFS rule in .gitattributes: {outside}"


def test_the_train_tab_says_whether_runs_outlive_a_restart(monkeypatch, tmp_path):
    from poetry_lab import settings
    from poetry_lab.app.ui.train_tab import storage_note

    bucket = tmp_path / "bucket"
    monkeypatch.setattr(settings.os.path, "ismount", lambda p: str(p) == str(bucket))
    local = settings.Settings.from_env({"POETRY_LAB_HOME": str(tmp_path / "home")})
    space = settings.Settings.from_env({"SPACE_ID": "me/poetry-lab", "POETRY_LAB_HOME": str(tmp_path / "home")})
    mounted = settings.Settings.from_env({"SPACE_ID": "me/poetry-lab", "POETRY_LAB_HOME": str(bucket / "poetry_lab")})
    assert local.runs_outlive_restarts and storage_note(local) == ""
    assert not space.runs_outlive_restarts and "only until it restarts" in storage_note(space)
    assert mounted.runs_outlive_restarts and "storage bucket" in storage_note(mounted)
    bare_space = settings.Settings.from_env({"SPACE_ID": "me/poetry-lab", "HOME": str(tmp_path)})
    assert bare_space.home != settings.Path("/data/poetry_lab")  # no bucket at /data: not there
