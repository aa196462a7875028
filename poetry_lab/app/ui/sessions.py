"""SessionRegistry: one Lab per session, so no visitor sees another's corpus, training or models.

Gradio gives every browser tab a `session_hash` (sent with each event and with the heartbeat), and
`gradio_client.Client` makes one per client object and sends it with every call, so the same key
works for the page and for API clients. When the tab closes or the client calls `close()`, the
heartbeat ends and Gradio runs `demo.unload`, which closes that session's Lab (stopping its job).

The session hash changes with every page load, so the runs a browser visitor keeps on disk are keyed
on a random id stored in the browser instead (`visitor_state`, given to Lab.use_visitor at page load).
"""

from __future__ import annotations

import inspect
import logging
import threading
import typing
import uuid
from collections.abc import Callable

import gradio as gr

from poetry_lab import settings
from poetry_lab.app.session import Lab
from poetry_lab.app.ui.uploads import UploadLedger

log = logging.getLogger(__name__)


def visitor_state() -> gr.BrowserState:
    """The browser's copy of the visitor id (localStorage), the same across page loads and server restarts.

    Gradio encrypts it with `secret` in the page, but the secret travels with the page, so this is no
    protection: what keeps visitors apart is the id itself, 32 random bytes made on the server. The
    secret must only stay the same after a restart, or every browser's id would be unreadable.
    """
    secret = settings.current().browser_secret
    return gr.BrowserState(None, storage_key="poetry_lab_visitor", secret=secret)


class SessionRegistry:
    """session_hash -> Lab, made on first use. Created inside create_demo, never at module level."""

    def __init__(self, factory: Callable[[str], Lab] = Lab, uploads: UploadLedger | None = None):
        self._factory = factory
        self.uploads = uploads or UploadLedger()
        self._labs: dict[str, Lab] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._labs)

    def lab(self, request: gr.Request | None) -> Lab:
        """The Lab of the request's session; a throwaway Lab for a call that has no session."""
        key = getattr(request, "session_hash", None)
        if not key:  # e.g. a bare HTTP call: it gets a fresh Lab that nothing else can reach
            return self._factory(uuid.uuid4().hex[:12])
        with self._lock:
            lab = self._labs.get(key)
            if lab is None:
                lab = self._labs[key] = self._factory(key)
            return lab

    def close(self, request: gr.Request | None) -> None:
        """Forget the session and stop its training (its run files stay on disk)."""
        key = getattr(request, "session_hash", None)
        with self._lock:
            lab = self._labs.pop(key, None) if key else None
        if lab is not None:
            try:
                lab.close()
            except Exception:  # an unload must never fail loudly; log it for the operator
                log.exception("closing session %s failed", key)

    def close_all(self) -> None:
        with self._lock:
            labs, self._labs = list(self._labs.values()), {}
        for lab in labs:
            lab.close()

    def bind(self, handler: Callable[..., typing.Any], files: tuple[str, ...] = ()) -> Callable[..., typing.Any]:
        """`handler(lab, *values)` as a Gradio callback `(*values, request: gr.Request)`.

        Gradio reads the signature and type hints to pass the request (and, for gr.api, to describe
        the endpoint), so the wrapper carries the handler's own, minus `lab`, plus `request`.
        `files` names the parameters that take files: each reaches the handler only as paths of
        uploads this session made (`UploadLedger.vet`; anything else is refused with one message).
        """
        sig = inspect.signature(handler)
        hints = typing.get_type_hints(handler)
        params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in list(sig.parameters.values())[1:]]
        request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)

        file_positions = [i for i, p in enumerate(params) if p.name in files]
        if len(file_positions) != len(files):
            raise TypeError(f"{handler.__name__} has no parameter among {files}")

        def call(*args):
            *values, req = args
            for i in file_positions:
                values[i] = self.uploads.vet(getattr(req, "session_hash", None), values[i])
            return handler(self.lab(req), *values)

        call.__name__ = call.__qualname__ = handler.__name__
        call.__doc__ = handler.__doc__
        call.__signature__ = sig.replace(parameters=[*params, request], return_annotation=hints.get("return", sig.return_annotation))
        call.__annotations__ = {**{p.name: p.annotation for p in params}, "request": gr.Request, "return": hints.get("return", typing.Any)}
        return call
