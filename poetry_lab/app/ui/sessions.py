"""SessionRegistry: one Session per session, so no visitor sees another's corpus, training or models.

Gradio gives every browser tab a `session_hash` (sent with each event and with the heartbeat), and
`gradio_client.Client` makes one per client object and sends it with every call, so the same key
works for the page and for API clients. A page or a client holds its session open with a heartbeat
connection (`SessionWatch` sees it); when the tab closes or the client calls `close()`, the heartbeat
ends and Gradio runs `demo.unload`, which forgets that Session.

A bare HTTP call (`POST /gradio_api/call/...` without a session_hash) gets a session of its own that no
heartbeat holds and no unload ever ends, so sessions nobody holds are forgotten after
`Settings.session_idle_s` unused, and at most `Settings.max_sessions` of them are kept (the least recently
used goes first). Forgetting a Session frees what it holds; it never stops its training: the job runs
to its end (within the server's limits), its run on disk, and the visitor's next session takes it up.

The session hash changes with every page load, so the runs a browser visitor keeps on disk are keyed
on a random id stored in the browser instead (`visitor_state`, given to Session.use_visitor at page load).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import inspect
import logging
import re
import threading
import time
import typing
import uuid
from collections import Counter, OrderedDict
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
    """session_hash -> Session, made on first use. Created once per app (app.py), never at module level.

    Every Session it makes shares the registry's Store (the default model, copy indexes, embeddings).
    `idle_s` and `max_sessions` bound the sessions no heartbeat holds (see the module's doc); `clock`
    is the time in seconds (monotonic), a parameter so that tests can move it.
    """

    def __init__(self, factory: Callable[[str], Session] | None = None, uploads: UploadLedger | None = None,
                 store: Store | None = None, idle_s: float | None = None, max_sessions: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        config = settings.current()
        self.store = store if store is not None else Store()  # not `or`: an empty Store is falsy (it has a len)
        self._factory = factory or (lambda key: Session(key, store=self.store))
        self.uploads = uploads or UploadLedger()
        self.idle_s = config.session_idle_s if idle_s is None else idle_s
        self.max_sessions = config.max_sessions if max_sessions is None else max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self._used: dict[str, float] = {}  # session -> when it was last used (or its heartbeat ended)
        self._held: Counter[str] = Counter()  # session -> open heartbeat connections
        self._on_forget: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def on_forget(self, fn: Callable[[str], None]) -> None:
        """Call `fn(session_hash)` whenever a session is forgotten (create_demo frees Gradio's own copy then)."""
        self._on_forget.append(fn)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def session(self, request: gr.Request | None) -> Session:
        """The Session of the request's session; a throwaway Session for a call that has no session."""
        key = getattr(request, "session_hash", None)
        if not key:  # e.g. a bare HTTP call: it gets a fresh Session that nothing else can reach
            return self._factory(uuid.uuid4().hex[:12])
        now = self._clock()
        with self._lock:
            self._forget_idle(now)
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = self._factory(key)
                self._forget_over_cap()
            self._sessions.move_to_end(key)
            self._used[key] = now
            return session

    def close(self, request: gr.Request | None) -> None:
        """The visitor left (the page's unload): forget the session. Its training goes on to its end."""
        key = getattr(request, "session_hash", None)
        with self._lock:
            if key:
                self._forget(key)

    def close_all(self) -> None:
        """Forget every session and stop their trainings (a server that shuts down)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            self._used.clear()
        for session in sessions:
            session.close()

    # --- who holds a session: heartbeats, and the clock ---------------------------------------
    def hold(self, key: str) -> None:
        """A heartbeat connection of `key` opened: a page or client is there, so it is never forgotten as idle."""
        with self._lock:
            self._held[key] += 1

    def release(self, key: str) -> None:
        """A heartbeat connection of `key` ended: from now on it counts as idle."""
        with self._lock:
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]
            if key in self._used:
                self._used[key] = self._clock()

    def sweep(self) -> int:
        """Forget the sessions idle longer than `idle_s` that no heartbeat holds; answer how many."""
        with self._lock:
            return self._forget_idle(self._clock())

    def _forget_idle(self, now: float) -> int:
        idle = [k for k, used in self._used.items() if now - used > self.idle_s and k not in self._held]
        for key in idle:
            self._forget(key)
        return len(idle)

    def _forget_over_cap(self) -> None:
        unheld = [k for k in self._sessions if k not in self._held]  # least recently used first
        for key in unheld[:max(0, len(unheld) - self.max_sessions)]:
            self._forget(key)

    def _forget(self, key: str) -> None:
        """Drop the session (under the lock): what it holds is freed with it, its training runs on."""
        self._sessions.pop(key, None)
        self._used.pop(key, None)
        for fn in self._on_forget:
            try:
                fn(key)
            except Exception:  # freeing memory must never break a visitor's request
                log.exception("forgetting session %s failed", key)

    def bind(self, handler: Callable[..., typing.Any], files: tuple[str, ...] = ()) -> Callable[..., typing.Any]:
        """`handler(session, *values)` as a Gradio callback `(*values, request: gr.Request)`.

        Gradio reads the signature and type hints to pass the request (and, for gr.api, to describe
        the endpoint), so the wrapper carries the handler's own, minus `session`, plus `request`.
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
            return handler(self.session(req), *values)

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
                answer = handler(self.session(req), **named)
                unknown = set(answer) - set(outputs)
                if unknown:
                    raise KeyError(f"{handler.__name__} answered outputs it does not have: {sorted(unknown)}")
                return {outputs[name]: value for name, value in answer.items()}
            except Exception as exc:  # noqa: BLE001 - the boundary: nothing may reach the page as a traceback
                message = user_message(exc, handler.__name__)
            gr.Warning(message)
            return {outputs[status]: render.problem(message)} if status is not None else {}

        return {"fn": _as_gradio_callback(call, handler, params, dict), "inputs": list(inputs.values()), "outputs": list(outputs.values())}


def forget_gradio_state(demo: gr.Blocks, key: str) -> None:
    """Drop Gradio's own record of a session: its StateHolder keeps, per session, each event's inputs (a
    megabyte of pasted text stays there) and every component a handler changed, and frees them only an
    hour after a heartbeat ends, or beyond 10,000 sessions; a bare API session has no heartbeat. Gradio
    6.31's StateHolder; where it has another shape, nothing happens (and bench_sessions shows the cost)."""
    holder = getattr(demo, "state_holder", None)
    data, lock = getattr(holder, "session_data", None), getattr(holder, "lock", None)
    if isinstance(data, dict) and lock is not None:
        with lock:
            data.pop(key, None)
            getattr(holder, "time_last_used", {}).pop(key, None)


HEARTBEAT = re.compile(r"/heartbeat/([^/]+)/?$")


class SessionWatch:
    """ASGI middleware (launch's app_kwargs, see create_demo's `server_middleware`): tells the registry
    which sessions a heartbeat holds, and sweeps idle sessions on its own clock, in the server's event
    loop, so the memory of visitors who left comes back even when nobody calls."""

    def __init__(self, app, sessions: SessionRegistry):
        self.app, self.sessions = app, sessions
        self._sweeper: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        found = HEARTBEAT.search(scope["path"]) if scope["method"] == "GET" else None
        if found is None:
            return await self.app(scope, receive, send)
        key = found.group(1)
        self.sessions.hold(key)
        try:
            return await self.app(scope, receive, send)  # streams until the page or client goes away
        finally:
            self.sessions.release(key)

    async def _sweep_forever(self) -> None:
        every = min(60.0, max(1.0, self.sessions.idle_s / 4))
        while True:
            await asyncio.sleep(every)
            try:
                if self.sessions.sweep():
                    return_freed_memory()
            except Exception:  # the sweeper must outlive any one failure; the next sweep tries again
                log.exception("sweeping idle sessions failed")


_LIBC = ctypes.util.find_library("c")


def return_freed_memory() -> None:
    """Hand the memory of forgotten sessions back to the system. glibc keeps freed blocks of big strings
    (a pasted corpus) in its heap for reuse, so the server's resident memory would stay at its peak;
    malloc_trim releases them (bench_sessions: about 60% of the growth back). Elsewhere, nothing happens."""
    if _LIBC and "libc.so" in _LIBC:
        try:
            ctypes.CDLL(_LIBC).malloc_trim(0)
        except (OSError, AttributeError):  # musl and others have no malloc_trim
            pass


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
