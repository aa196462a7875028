"""The attack suite: every endpoint that takes a file, sent every shape of file value that names a file
the visitor did not upload, aimed at every kind of place. Nothing may be read, and every refusal must
be the same sentence (so a refusal says nothing about which paths exist).

Shapes: Gradio's FileData with its meta marker (which Gradio 6.31 would copy into its cache before a
handler runs), without it, with a `url`, a URL to the app's own file route, a bare string, a path that
climbs out of the upload folder, and an `orig_name` that looks like an upload. Targets: a file outside
every folder the app uses, a file in the app's own folder (POETRY_LAB_HOME), a file in the system temp
folder, a missing file, and a file another session uploaded. Endpoints are read from the launched app
(`/gradio_api/info?all_endpoints=true`), so a new endpoint with a file input is attacked too.
"""

from __future__ import annotations

import io
import tempfile
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from apphelpers import as_file, running_app, upload
from conftest import POEM_TEXT

from benchmarks.app_process import call
from poetry_lab.app.ui.uploads import REFUSED

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MARK = uuid.uuid4().hex  # in every secret, so a leak anywhere is found by searching for it


def secret(label: str) -> bytes:
    return f"The {label} secret {MARK} is written here.\nA second line of it, for the preview.\n".encode()


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, tiny_model_path):
    """The launched app, its folders and one file of each kind an attacker might aim at."""
    home = tmp_path_factory.mktemp("attack_home")
    uploads = tmp_path_factory.mktemp("attack_uploads")
    outside = tmp_path_factory.mktemp("attack_outside")
    systemp = Path(tempfile.gettempdir()) / f"poetry-lab-attack-{MARK}.txt"
    targets = {"outside": outside / "poems.txt", "app folder": home / "poems.txt", "system temp": systemp}
    for label, path in targets.items():
        path.write_bytes(secret(label))
    targets["missing"] = outside / "no-such-poems.txt"
    try:
        with running_app(home, env={"POETRY_LAB_DEFAULT_MODEL": str(tiny_model_path), "GRADIO_TEMP_DIR": str(uploads)}) as url:
            victim = upload(url, "victim.txt", secret("other session's upload"))
            event, _ = call(url, "load_corpus", [[as_file(victim)], None, None], session="victim")
            assert event == "complete"  # the victim's own upload works for the victim
            targets["another session's upload"] = Path(victim)
            yield url, uploads, targets
    finally:
        systemp.unlink(missing_ok=True)


def shapes(url: str, uploads: Path, target: Path) -> dict[str, object]:
    t = str(target)
    return {
        "FileData with meta": as_file(t),
        "FileData without meta": {"path": t},
        "bare string": t,
        "url field": {"path": t, "url": f"file://{t}", "meta": {"_type": "gradio.FileData"}},
        "url to the file route": {"path": f"{url}/gradio_api/file={t}", "url": f"{url}/gradio_api/file={t}",
                                  "meta": {"_type": "gradio.FileData"}},
        "climbs out of uploads": as_file(f"{uploads}/{'../' * 12}{t.lstrip('/')}"),
        "orig_name of an upload": {**as_file(t), "orig_name": "poems.txt", "size": 10, "mime_type": "text/plain"},
    }


def file_endpoints(url: str) -> dict[str, list[dict]]:
    """api_name -> its parameters, for every endpoint with a file input, documented or not."""
    info = httpx.get(f"{url}/gradio_api/info?all_endpoints=true", timeout=10).json()["named_endpoints"]
    found = {name.lstrip("/"): e["parameters"] for name, e in info.items()
             if any("FileData" in str(p) for p in e["parameters"])}
    assert {"load_corpus", "load_model", "ui_load_corpus", "ui_load_model"} <= set(found), found
    return found


def arguments(parameters: list[dict], value) -> list:
    """The call's data: the attack value at each file input (in a list where it takes several), None elsewhere."""
    data = []
    for p in parameters:
        if "FileData" not in str(p):
            data.append(None)
        else:
            data.append([value] if p.get("type", {}).get("type") == "array" else value)
    return data


def leaked(folder: Path) -> list[Path]:
    """Files under `folder` holding any secret (a copy Gradio made would be one)."""
    return [p for p in folder.rglob("*") if p.is_file() and MARK.encode() in p.read_bytes()
            and "victim" not in str(p)]


def test_no_endpoint_reads_a_file_that_was_not_uploaded(attacked):
    url, uploads, targets = attacked
    endpoints = file_endpoints(url)
    answers = []
    for api, parameters in endpoints.items():
        for label, target in targets.items():
            for shape, value in shapes(url, uploads, target).items():
                event, payload = call(url, api, arguments(parameters, value), session="attacker")
                text = str(payload)
                assert MARK not in text, (api, label, shape, payload)
                assert event == "error", (api, label, shape, payload)
                answers.append(((api, label, shape), payload.get("error") if isinstance(payload, dict) else text))
    differing = [(where, message) for where, message in answers if message != REFUSED]
    assert not differing, differing[:5]
    assert len(answers) == len(endpoints) * len(targets) * 7
    victim = targets["another session's upload"]
    copies = [p for p in leaked(uploads) if p != victim]
    assert not copies, f"Gradio copied a file it was not sent: {copies}"


def test_the_queue_route_that_the_page_uses_is_screened_too(attacked):
    """The page calls functions by index through /queue/join; a script can send that shape as well."""
    url, uploads, targets = attacked
    config = httpx.get(f"{url}/config", timeout=10).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "ui_load_corpus")
    session = "attacker_queue"
    body = {"data": [[as_file(str(targets["outside"]))], None, None], "fn_index": fn_index, "session_hash": session}
    assert httpx.post(f"{url}/gradio_api/queue/join", json=body, timeout=10).status_code == 200
    messages = []
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                messages.append(line)
                if '"process_completed"' in line:
                    break
    joined = "\n".join(messages)
    assert MARK not in joined and REFUSED.split(":")[0] in joined, joined[-500:]
    assert not [p for p in leaked(uploads) if p != targets["another session's upload"]]


def test_an_archive_holding_a_symlink_is_not_followed(attacked):
    """Uploaded archives are refused as archives: a link inside one is never unpacked, let alone followed."""
    url, _, targets = attacked
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("poems.txt")
        link.external_attr = (0o120777 << 16)  # a symbolic link ...
        archive.writestr(link, str(targets["outside"]))  # ... to the outside secret
    for name in ("poems.zip", "poems.txt"):
        path = upload(url, name, buffer.getvalue())
        event, payload = call(url, "load_corpus", [[as_file(path)], None, None], session="archivist")
        assert event == "error" and MARK not in str(payload) and "zip archive" in payload["error"], payload


def test_own_uploads_work_in_every_shape_a_client_sends(attacked):
    """The session that uploaded a file can use it, again and again, with or without the meta marker."""
    url, _, _ = attacked
    path = upload(url, "mine.txt", POEM_TEXT.encode())
    for value in (as_file(path), {"path": path}, {**as_file(path), "url": f"{url}/gradio_api/file={path}"}):
        event, payload = call(url, "load_corpus", [[value], None, None], session="owner")
        assert event == "complete" and payload[0]["chars"] >= len(POEM_TEXT) - 2, payload
    event, payload = call(url, "ui_load_corpus", [[as_file(path)], None, None], session="owner")
    assert event == "complete" and "mine.txt" in str(payload[0]), payload
    # The same bytes uploaded by a second visitor: Gradio gives the same path, and it is theirs to use too.
    assert upload(url, "mine.txt", POEM_TEXT.encode()) == path
    assert call(url, "load_corpus", [[as_file(path)], None, None], session="second owner")[0] == "complete"
    assert call(url, "load_corpus", [[as_file(path)], None, None], session="third, no upload")[0] == "error"


def test_gradio_client_sends_the_bytes_of_its_own_file(attacked, tmp_path, monkeypatch, tiny_model_path):
    """`Client.predict` with a FileData value uploads the file from the client's own disk first: what the
    server reads is what the client sent, never a file of the server's. Seen from the upload route."""
    from gradio_client import Client, handle_file

    url, _, _ = attacked
    sent = []
    real_post = httpx.post

    def spying_post(target, *args, **kwargs):
        if "/gradio_api/upload" in str(target):
            sent.extend(f[1][0] for f in kwargs.get("files", []))
        return real_post(target, *args, **kwargs)

    monkeypatch.setattr(httpx, "post", spying_post)
    poem = tmp_path / "client_side.txt"
    poem.write_text(POEM_TEXT)
    client = Client(url, verbose=False)
    try:
        fd = {"path": str(poem), "meta": {"_type": "gradio.FileData"}}  # the shape
        assert client.predict([fd], "", None, api_name="/load_corpus")["name"] == "client_side.txt"
        assert "client_side.txt" in sent
        assert "LSTM" in client.predict(handle_file(str(tiny_model_path)), api_name="/load_model")
        assert "LSTM" in client.predict(handle_file(str(tiny_model_path)), api_name="/ui_load_model")[0]
    finally:
        client.close()
