"""What the launched app serves and reads: only its own folders, never a path a visitor names.

Plain HTTP against the real app, as anyone on the network could send it: file fetches outside the
app's folders (absolute, `..`, URL-encoded), file values that name server paths instead of uploads,
and uploads whose names try to climb out. The model download is the one file that must be served.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from apphelpers import REPO_ROOT, as_file, running_app, upload
from conftest import POEM_TEXT

from benchmarks.app_process import call
from poetry_lab.app.session import Session
from poetry_lab.app.ui.uploads import REFUSED
from poetry_lab.core.checkpoint import ModelBundle, load_model

httpx = pytest.importorskip("httpx")

SECRET = "The secret rose is red upon the wall.\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_path):
    """(url, home, upload folder) of an app started with the tiny model and its own upload folder."""
    home = tmp_path_factory.mktemp("serving_home")
    uploads = tmp_path_factory.mktemp("gradio_uploads")
    (home / "secret.txt").write_text(SECRET * 20)
    with running_app(home, env={"POETRY_LAB_DEFAULT_MODEL": str(tiny_model_path), "GRADIO_TEMP_DIR": str(uploads)}) as url:
        yield url, home, uploads


def download(url: str, session: str) -> dict:
    """The Model tab's download button -> the FileData of the file Gradio serves."""
    event, payload = call(url, "ui_download_model", [], session)
    assert event == "complete", payload
    return payload[0]["value"]  # an update that also shows the (at first hidden) file box


def test_files_outside_the_apps_folders_are_refused(served):
    url, home, uploads = served
    model = download(url, "visitor_a")  # writes a model file into visitor a's POETRY_LAB_HOME folder
    own_copies = sorted((home / "sessions" / "visitor_a").rglob("*.safetensors"))
    assert own_copies, "the download wrote nothing into the session's folder"
    inside = Path(model["path"])
    targets = ["/etc/passwd", "/proc/self/environ", str(REPO_ROOT / "app.py"), str(REPO_ROOT / "poetry_lab" / "app" / "session.py"),
               str(home / "secret.txt"), str(home / "app.log"), *map(str, own_copies), "~/.bashrc",
               f"{inside.parent}/../../etc/passwd", f"{uploads}/../serving_home0/secret.txt",
               "../../../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
               "%252e%252e%252f%252e%252e%252fetc%252fpasswd", "..\\..\\..\\etc\\passwd", "//etc/passwd",
               "file:///etc/passwd", f"{inside}/../../../../etc/passwd"]
    for prefix in ("/gradio_api/file=", "/file="):
        for target in targets:
            response = httpx.get(f"{url}{prefix}{target}", timeout=10)
            assert response.status_code in (400, 403, 404), (prefix, target, response.status_code)
            assert "root:" not in response.text and "secret rose" not in response.text and "import" not in response.text


def test_the_downloaded_model_is_served(served, tmp_path):
    url, _, uploads = served
    model = download(url, "visitor_b")
    assert Path(model["path"]).resolve().is_relative_to(uploads.resolve())  # a copy in Gradio's folder, not home
    response = httpx.get(f"{url}/gradio_api/file={model['path']}", timeout=30)
    assert response.status_code == 200
    (tmp_path / "model.safetensors").write_bytes(response.content)
    bundle = load_model(tmp_path / "model.safetensors")
    assert bundle.facts["corpus"] == "tiny poems" and len(bundle.vocab) > 10


@pytest.mark.parametrize("value", [
    {"path": "/etc/passwd"},  # not marked as a file: Gradio passes it on untouched
    {"path": "SECRET"},
    as_file("/etc/passwd"),
    as_file("SECRET"),
    {"path": "sonnets"},  # a catalog name is not an upload either
    {"path": "UPLOADS/../serving_home0/secret.txt"},
])
def test_file_values_must_be_uploads_not_server_paths(served, value):
    url, home, uploads = served
    value = {**value, "path": value["path"].replace("SECRET", str(home / "secret.txt")).replace("UPLOADS", str(uploads))}
    for api in ("load_corpus", "ui_load_corpus"):
        event, payload = call(url, api, [[value], None, None], session="visitor_c")
        assert event == "error", (api, value, payload)
        assert "root:" not in json.dumps(payload) and "secret rose" not in json.dumps(payload)
        assert payload["error"] == REFUSED, payload  # the app (not Gradio) refused: it says what to do instead


def test_a_bundled_name_is_never_a_path(served):
    url, home, _ = served
    event, payload = call(url, "load_corpus", [None, None, str(home / "secret.txt")], session="visitor_d")
    assert event == "error" and "There is no bundled corpus called" in payload["error"]


def test_upload_names_never_become_paths_outside_the_apps_folders(served):
    url, home, uploads = served
    token = uuid.uuid4().hex[:10]
    names = [f"../../escape_{token}.txt", f"/tmp/escape_{token}.txt", f"..\\..\\escape_{token}.txt",
             f"./../{home.name}/escape_{token}.txt", f"poème ☃ \u202eescape_{token}.txt", f"escape_{token}\u0301\u200b.txt"]
    paths = [upload(url, name, POEM_TEXT.encode()) for name in names]
    for path in paths:
        assert Path(path).resolve().is_relative_to(uploads.resolve()), path
    event, report = call(url, "load_corpus", [[as_file(p) for p in paths], None, None], session="visitor_e")
    assert event == "complete" and report[0]["chars"] > len(POEM_TEXT) * len(names) * 0.9, report
    download(url, "visitor_e")
    escaped = [p for root in (Path(tempfile.gettempdir()), home, REPO_ROOT) for p in _named(root, f"escape_{token}")
               if not p.resolve().is_relative_to(uploads.resolve())]
    assert not escaped, escaped


def _named(root: Path, token: str) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules", "__pycache__")]
        found += [Path(folder) / f for f in files + dirs if token in f]
    return found


def test_the_library_names_its_own_files(tmp_path, tiny_bundle):
    """A model's corpus name comes from upload names; the download file name keeps only safe characters."""
    lab = Session(session="../../x/\u202e", home=tmp_path / "home")
    assert lab.home.resolve().is_relative_to((tmp_path / "home" / "sessions").resolve())
    lab._bundle = ModelBundle(tiny_bundle.model, tiny_bundle.vocab, {"corpus": "../../../escape/\u202e☃ /etc/passwd"})
    path = lab.model_file()
    assert path.resolve().is_relative_to(lab.home.resolve()) and path.parent.name == "downloads"
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in path.name), path.name


@pytest.mark.parametrize("api", ["load_run", "resume_run"])
def test_run_ids_are_never_paths(served, api):
    url, home, _ = served
    if f"/{api}" not in httpx.get(f"{url}/gradio_api/info", timeout=10).json()["named_endpoints"]:
        pytest.skip(f"this app has no /{api}")
    for run_id in ("../../../../etc", str(home), "../visitor_a/downloads", "%2e%2e%2f%2e%2e"):
        event, payload = call(url, api, [run_id], session="visitor_f")
        assert event == "error" and payload["error"] and "root:" not in json.dumps(payload), (run_id, payload)
