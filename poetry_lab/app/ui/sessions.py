"""SessionRegistry: one Session per session, so no visitor sees another's corpus, training or models.

Gradio gives every browser tab a `session_hash` (sent with each event and with the heartbeat), and
`gradio_client.Client` makes one per client object and sends it with every call, so the same key
works for the page and for API clients. When the tab closes or the client calls `close()`, the
heartbeat ends and Gradio runs `demo.unload`, which closes that Session (stopping its job).

The session hash changes with every page load, so the runs a browser visitor keeps on disk are keyed
on a random id stored in the browser instead (`visitor_state`, given to Session.use_visitor at page load).
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
from poetry_lab.app.session import Session
from poetry_lab.app.ui import render
from poetry_lab.app.ui.uploads import UploadLedger
from poetry_lab.errors import PoetryLabError
from poetry_lab.store import Store

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
    """session_hash -> Session, made on first use. Created inside create_demo, never at module level.

    Every Session it makes shares the registry's Store (the default model, copy indexes, embeddings).
    """

    def __init__(self, factory: Callable[[str], Session] | None = None, uploads: UploadLedger | None = None,
                 store: Store | None = None):
        self.store = store or Store()
        self._factory = factory or (lambda key: Session(key, store=self.store))
        self.uploads = uploads or UploadLedger()
        self._labs: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._labs)

    def lab(self, request: gr.Request | None) -> Session:
        """The Session of the request's session; a throwaway Session for a call that has no session."""
        key = getattr(request, "session_hash", None)
        if not key:  # e.g. a bare HTTP call: it gets a fresh Session that nothing else can reach
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

        file_positions = [i for i, p in enumerate(params) if p.name in files]
        if len(file_positions) != len(files):
            raise TypeError(f"{handler.__name__} has no parameter among {files}")

        def call(*args):
            *values, req = args
            for i in file_positions:
                values[i] = self.uploads.vet(getattr(req, "session_hash", None), values[i])
            return handler(self.lab(req), *values)

        return _as_gradio_callback(call, handler, params, hints.get("return", typing.Any))

    def action(self, handler: Callable[..., dict], inputs: dict[str, gr.components.Component] | None = None,
               outputs: dict[str, gr.components.Component] | None = None, status: str | None = "status",
               files: tuple[str, ...] = ()) -> dict:
        """The fn, inputs and outputs of a page event, wired by name: `handler(session, **named_inputs)`
        answers a dict of named outputs (keys of `outputs`); an output it leaves out stays as it is.

        The page's widget lists and the handler's parameters are matched by name, never by position.
        The UI boundary: any error becomes a toast and its message in output `status` (PoetryLabError's
        own sentence, anything else one short sentence and a log entry); nothing reaches the page as a
        traceback. A handler parameter whose default is a gr.Progress receives Gradio's progress tracker.
        `files` names the inputs that take uploaded files (vetted as in `bind`).
        """
        inputs, outputs = dict(inputs or {}), dict(outputs or {})
        sig, hints = inspect.signature(handler), typing.get_type_hints(handler)
        handler_params = list(sig.parameters.values())[1:]
        missing = [n for n in inputs if n not in sig.parameters]
        if missing or (status is not None and status not in outputs) or not set(files) <= set(inputs):
            raise TypeError(f"{handler.__name__}: inputs {missing} unknown, or no output named {status!r}")
        extras = [p for p in handler_params if isinstance(p.default, gr.Progress)]
        params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hints.get(n, typing.Any)) for n in inputs]
        params += [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in extras]
        names = list(inputs)

        def call(*args):
            *values, req = args
            named = dict(zip(names, values[:len(names)]))
            named.update(zip([p.name for p in extras], values[len(names):]))
            for name in files:  # a refusal is Gradio's error, with the same sentence as at every other endpoint
                named[name] = self.uploads.vet(getattr(req, "session_hash", None), named[name])
            try:
                answer = handler(self.lab(req), **named)
                unknown = set(answer) - set(outputs)
                if unknown:
                    raise KeyError(f"{handler.__name__} answered outputs it does not have: {sorted(unknown)}")
                return {outputs[name]: value for name, value in answer.items()}
            except Exception as exc:  # noqa: BLE001 - the boundary: nothing may reach the page as a traceback
                message = user_message(exc, handler.__name__)
            gr.Warning(message)
            return {outputs[status]: render.problem(message)} if status is not None else {}

        return {"fn": _as_gradio_callback(call, handler, params, dict), "inputs": list(inputs.values()), "outputs": list(outputs.values())}


def _as_gradio_callback(call: Callable, handler: Callable, params: list[inspect.Parameter], returns) -> Callable:
    """`call(*values, request)` dressed as Gradio reads a callback: the handler's name and doc, `params`
    plus a `request: gr.Request` last, in both the signature and the annotations (Gradio reads the
    annotations to decide whether to pass the request, and the signature to describe an endpoint)."""
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    call.__name__ = call.__qualname__ = handler.__name__
    call.__doc__ = handler.__doc__
    call.__signature__ = inspect.Signature([*params, request], return_annotation=returns)
    call.__annotations__ = {**{p.name: p.annotation for p in params}, "request": gr.Request, "return": returns}
    return call


INTERNAL_ERROR = "Something went wrong on our side, sorry. Please try again; if it keeps happening, reload the page."


def user_message(exc: Exception, where: str) -> str:
    """What a visitor reads about an error: a PoetryLabError's own sentence; anything else is logged
    with its traceback and becomes INTERNAL_ERROR."""
    if isinstance(exc, PoetryLabError):
        return str(exc)
    log.exception("unexpected error in %s", where)
    return INTERNAL_ERROR
