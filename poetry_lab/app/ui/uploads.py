"""Which files a visitor can make the app read: only files this session sent through Gradio's upload route.

Where the check lives, and why. Gradio (6.31) acts on file values before any handler runs: a value
marked `{"meta": {"_type": "gradio.FileData"}}` is copied into Gradio's cache folder (from a server
path, where Gradio's own rules allow it) or downloaded (from a `url`), and the handler then sees a
path inside the cache folder, which any "is it under the upload folder?" test accepts. A handler
cannot tell such a copy from an upload. So the decision is made twice, on facts Gradio cannot launder:

1. `UploadScreen`, an ASGI middleware in front of every Gradio route, records the paths that
   Gradio's upload route (`POST /gradio_api/upload`) answers with, one ticket per upload. In every
   other POST body it rewrites each file value that does not name such an upload (any shape:
   FileData with or without meta, a `url`, a bare string at a file input, a path with `..` or a
   symlink) into a placeholder file of its own, before Gradio moves or even looks at anything.
2. `SessionRegistry.bind` passes each file input through `UploadLedger.vet` before the handler
   runs: the path must be an upload this session holds a ticket for. The placeholder never has one.

Per session: an upload's first use claims its ticket for that session. Gradio names uploads by a
salted hash of their bytes, so two visitors who upload the same file get the same path: each upload
is one more ticket, so each of them can use it, and nobody who did not upload it can.

Every refusal is the same sentence (`REFUSED`), whether the named file exists or not.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

REFUSED = ("Only files uploaded in this session can be used: choose the file with the upload box "
           "(or send it with gradio_client's handle_file).")
FILE_META = {"_type": "gradio.FileData"}
PLACEHOLDER_DIR = "poetry-lab-refused"  # inside Gradio's upload folder: Gradio leaves it where it is
PREDICT_ROUTES = ("/call/v2/", "/call/", "/run/", "/api/")  # + /queue/join, which names the function by fn_index


class UploadLedger:
    """The uploads Gradio received (one ticket each) and the sessions that hold them. Thread-safe."""

    def __init__(self) -> None:
        self._tickets: Counter[str] = Counter()
        self._holders: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def record(self, paths: Iterable[str]) -> None:
        """Paths Gradio's upload route answered with: each one is one more ticket for that path."""
        with self._lock:
            for path in paths:
                if isinstance(path, str):
                    self._tickets[os.path.abspath(path)] += 1

    def admit(self, session: str, path: Any) -> str | None:
        """The upload's absolute path if `session` holds (or can claim) a ticket for it, else None."""
        if not isinstance(path, str) or not path or not session:
            return None
        full = os.path.abspath(path)
        with self._lock:
            tickets = self._tickets.get(full, 0)
            if not tickets:  # never uploaded: nothing is recorded for paths a client merely names
                return None
            holders = self._holders.setdefault(full, set())
            if session not in holders:
                if len(holders) >= tickets:
                    return None
                holders.add(session)
        # What Gradio wrote is a plain file at that very path; nothing may point elsewhere from there.
        if os.path.islink(full) or os.path.realpath(full) != full or not os.path.isfile(full):
            return None
        return full

    def vet(self, session: str | None, value: Any) -> Any:
        """A file input's value as the handler should get it: admitted paths (one, a list, or None).

        Raises gr.Error(REFUSED) for anything else; the message is the same whatever was named.
        """
        if value is None or value == []:
            return value
        if isinstance(value, (list, tuple)):
            return [self._one(session, v) for v in value]
        return self._one(session, value)

    def _one(self, session: str | None, value: Any) -> str:
        path = value.get("path") if isinstance(value, dict) else getattr(value, "path", value)
        admitted = self.admit(session or "", path)
        if admitted is None:
            raise gr.Error(REFUSED, print_exception=False)
        return admitted


def placeholder(suffix: str) -> dict:
    """A FileData for an empty file in Gradio's upload folder that no session holds a ticket for.

    It carries the file type the input expects, so Gradio hands it to the handler untouched, and the
    handler refuses it with REFUSED like any other file that was not uploaded.
    """
    folder = Path(get_upload_folder()) / PLACEHOLDER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"refused{suffix}"
    path.touch()  # again each time: Gradio's cache cleaning may have removed it
    return {"path": str(path), "orig_name": path.name, "meta": FILE_META}


class UploadScreen:
    """ASGI middleware (given to FastAPI through `demo.launch(app_kwargs={"middleware": [...]})`)."""

    def __init__(self, app, ledger: UploadLedger, demo: gr.Blocks):
        self.app, self.ledger, self.demo = app, ledger, demo
        self._suffixes: dict[int, dict[int, str]] = {}  # per function: file input index -> placeholder suffix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if scope["path"].rstrip("/").endswith("/gradio_api/upload"):
            return await self.app(scope, receive, self._recording(send))
        body = await _read_body(receive)
        screened = self._screen(scope["path"], body)
        if screened is not body:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
                     + [(b"content-length", str(len(screened)).encode())]}
        return await self.app(scope, _replay(screened, receive), send)

    def _recording(self, send):
        """Pass the upload route's answer through, noting the paths of a successful one."""
        status, chunks = [0], []

        async def recording_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and status[0] == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        paths = json.loads(b"".join(chunks))
                    except ValueError:
                        paths = []
                    self.ledger.record(paths if isinstance(paths, list) else [])
            await send(message)
        return recording_send

    def _screen(self, route: str, body: bytes) -> bytes:
        try:
            payload = json.loads(body)
        except ValueError:
            return body  # not JSON: no Gradio route that runs a function accepts it
        if not (isinstance(payload, dict) and isinstance(payload.get("data"), list)):
            return body
        if not payload.get("session_hash"):  # Gradio would make one up; make it here so both checks agree
            payload["session_hash"] = uuid.uuid4().hex
        file_inputs = self._file_inputs(route, payload)
        session = str(payload["session_hash"])
        payload["data"] = [self._value(session, v, file_inputs.get(i)) for i, v in enumerate(payload["data"])]
        return json.dumps(payload).encode()

    def _file_inputs(self, route: str, payload: dict) -> dict[int, str]:
        """input index -> file suffix a placeholder should have, for the function this request calls."""
        fn = None
        if isinstance(payload.get("fn_index"), int):
            fn = self.demo.fns.get(payload["fn_index"])
        else:
            name = next((route.split(r, 1)[1].strip("/") for r in PREDICT_ROUTES if r in route), None)
            fn = next((f for f in self.demo.fns.values() if name and f.api_name == name), None)
        if fn is None:
            return {}
        if id(fn) not in self._suffixes:
            self._suffixes[id(fn)] = {i: _suffix(c) for i, c in enumerate(fn.inputs) if "FileData" in str(c.api_info())}
        return self._suffixes[id(fn)]

    def _value(self, session: str, value: Any, suffix: str | None) -> Any:
        if suffix is None:  # not a file input: a file value here has no business anywhere
            return _strip_files(value)
        if value is None:
            return None
        if isinstance(value, list):
            return [self._file(session, v, suffix) for v in value]
        return self._file(session, value, suffix)

    def _file(self, session: str, value: Any, suffix: str) -> dict:
        path = value.get("path") if isinstance(value, dict) else None
        admitted = self.ledger.admit(session, path)
        if admitted is None:
            return placeholder(suffix)
        kept = {k: value[k] for k in ("orig_name", "size", "mime_type") if k in value}
        return {**kept, "path": admitted, "meta": FILE_META}  # no url: nothing for Gradio to fetch


def _suffix(component) -> str:
    types = [t for t in (getattr(component, "file_types", None) or []) if isinstance(t, str) and t.startswith(".")]
    return types[0] if types else ".txt"


def _strip_files(value: Any) -> Any:
    if isinstance(value, dict):
        if "path" in value or "url" in value or value.get("meta") == FILE_META:
            return None
        return {k: _strip_files(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_files(v) for v in value]
    return value


async def _read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """The (screened) body once, then the client's own messages (a disconnect, when it comes)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay
