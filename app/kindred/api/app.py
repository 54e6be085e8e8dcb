"""The FastAPI application: `/v1/models` and `/v1/chat/completions`, OpenAI's way.

Every request needs the data home's key (Bearer); bodies over `MAX_BODY` bytes are refused
before they are read; every error is OpenAI's error JSON with the status OpenAI would use.
Handlers are `async` and run on the server's one event-loop thread, which owns the API's own
database connection; answers are made on the host's engine thread and streamed back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kindred.api import protocol, records, settings
from kindred.api.answering import Job, Outcome
from kindred.api.hosts import Busy, Host
from kindred.api.protocol import ChatRequest, error_body
from kindred.core.basics.errors import KindredError
from kindred.core.chat.turns import sampling_for
from kindred.core.engine.llama import AdapterRef
from kindred.core.home.assistants import Assistant, list_assistants
from kindred.core.session import Session, open_session

log = logging.getLogger("kindred.api")
MAX_BODY = 1_000_000
"""Bytes a request body may have (a long conversation is far below this)."""
PREFIX = "kindred/"


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param


@dataclass
class Service:
    """What the routes share: the home, the engine's host, and the API's own session (opened
    on the event-loop thread, used only there)."""

    home: Path
    host: Host
    on_answer: Callable[[int, Any], None] | None = None
    """Called after each answer is counted, with the rollout if its pace took a step (else
    None): the window's chat then follows the new blend."""
    _session: Session | None = None
    _verified: dict[str, Path] = field(default_factory=dict)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = open_session(self.home)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def assistants(self) -> list[Assistant]:
        """The assistants this server answers for: those on the engine's base model."""
        s = self.session
        return [a for a in list_assistants(s.store)
                if Path(s.model_for(a).path) == self.host.model_path]

    def assistant(self, model: str) -> Assistant:
        name = model[len(PREFIX):] if model.startswith(PREFIX) else model
        for one in self.assistants():
            if one.name == name:
                return one
        raise ApiError(404, f"The model '{model}' does not exist here; GET /v1/models lists "
                       "the assistants this server answers for.", code="model_not_found",
                       param="model")

    def refs(self, assistant: Assistant) -> list[AdapterRef]:
        """The adapters the assistant talks through now (a rollout's blend, else its active
        version), each version verified the first time it is used."""
        from kindred.core.archive import assistant_state
        from kindred.core.archive.catalog import verified_path

        out = []
        for key, scale in assistant_state.speaks_through(self.session.store, assistant.id):
            if key not in self._verified:
                self._verified[key] = verified_path(self.session.store, key)
            out.append(AdapterRef(key, self._verified[key], scale))
        return out


def _messages(store: Any, assistant: Assistant, request: ChatRequest) -> list[dict[str, str]]:
    """The assistant's persona and stated preferences first, then the client's own system
    text, then the conversation as the client sent it."""
    from kindred.core.learning.feedback import system_prompt

    system = [system_prompt(store, assistant)]
    turns: list[dict[str, str]] = []
    for m in request.messages:
        if m.role in ("system", "developer"):
            system.append(m.text())
        elif m.role in ("user", "assistant"):
            turns.append({"role": m.role, "content": m.text()})
        else:  # a tool's result: the model knows no tools; it reads it as the user's text
            turns.append({"role": "user", "content": m.text()})
    if not any(t["role"] == "user" for t in turns):
        raise ApiError(400, "messages: there is no user message to answer.", param="messages")
    text = "\n\n".join(s for s in system if s.strip())
    return ([{"role": "system", "content": text}] if text else []) + turns


def _sampling(assistant: Assistant, request: ChatRequest) -> Any:
    """The assistant's own sampling (`turns.sampling_for`), with what the request sets."""
    sampling = sampling_for(assistant)
    if request.temperature is not None:
        sampling = replace(sampling, temperature=request.temperature)
    if request.top_p is not None:
        sampling = replace(sampling, top_p=request.top_p)
    if limit := request.answer_limit():
        sampling = replace(sampling, max_tokens=limit)
    return sampling


class BodyLimit:
    """Refuse a body over `limit` bytes (413) before the route reads it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _drain(receive, int(length))
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _drain(receive, DRAIN_LIMIT)
            await _too_large(self.limit)(scope, receive, send)


DRAIN_LIMIT = 64_000_000


async def _drain(receive: Receive, length: int) -> None:
    """Read and drop the body (up to 64 MB), so the client, still sending, reads the 413
    instead of a reset connection; beyond that the connection is closed on it."""
    if length > DRAIN_LIMIT:
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


class KeyRequired:
    """Every request carries the data home's key as a Bearer token, or gets a 401 (read again
    when api.json changes, so a new key refuses the old one from the next request on). Plain
    ASGI: nothing sits between the route and the client's stream."""

    def __init__(self, app: ASGIApp, home: Path) -> None:
        self.app, self.home = app, Path(home)
        self._key: tuple[float, bytes] | None = None

    def key(self) -> bytes:
        path = self.home / settings.FILE
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = -1
        if self._key is None or self._key[0] != stamp:
            self._key = (stamp, settings.load(self.home).key.encode())
        return self._key[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        token = given[7:].strip() if given[:7].lower() == b"bearer " else b""
        if not token or not secrets.compare_digest(token, self.key()):
            length = dict(scope.get("headers") or []).get(b"content-length", b"0")
            await _drain(receive, int(length) if length.isdigit() else DRAIN_LIMIT)
            await _error(ApiError(401, "Incorrect or missing API key. Copy the key from "
                                  "Kindred (Other apps…) or `kindred serve --show-key`.",
                                  code="invalid_api_key"))(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(error_body(f"The request body is larger than {limit} bytes.",
                                   code="request_too_large"), status_code=413,
                        headers={"Connection": "close"})


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(str(exc), exc.kind, code=exc.code, param=exc.param),
                        status_code=exc.status)


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Kindred", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit)
    app.add_middleware(KeyRequired, home=service.home)  # added last: runs first

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first = problems[0] if problems else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        if first.get("type") == "json_invalid":
            message = "The request body is not valid JSON."
        else:
            message = f"{where or 'body'}: {first.get('msg', 'invalid')}"
        return _error(ApiError(400, message, param=where))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), kind), status_code=exc.status_code)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [protocol.model_entry(PREFIX + a.name, a.created_at)
                                           for a in service.assistants()]}

    @app.get("/v1/models/{model:path}")
    async def model(model: str) -> dict[str, Any]:
        one = service.assistant(model)
        return protocol.model_entry(PREFIX + one.name, one.created_at)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest, request: Request
                               ) -> dict[str, Any] | EventSourceResponse:
        assistant = service.assistant(body.model)
        try:
            refs = service.refs(assistant)
        except KindredError as exc:
            raise ApiError(503, str(exc), "server_error", code="version_unavailable") from exc
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        client = request.headers.get("user-agent", "")

        def deliver(event: tuple[str, Any]) -> None:  # on the loop's thread
            if event[0] == "done" and job.abandoned:  # the client left: counted all the same
                _finished(service, job, event[1], client, body)
            else:
                events.put_nowait(event)

        job = Job(assistant.id, refs, _messages(service.session.store, assistant, body),
                  _sampling(assistant, body),
                  lambda e: (loop.call_soon_threadsafe(deliver, e), None)[1],
                  stops=body.stops(), seed=body.seed)
        try:
            service.host.submit(job)
        except Busy as exc:
            raise ApiError(503, str(exc), "server_error", code="busy") from exc
        model_id = PREFIX + assistant.name
        if body.stream:
            return EventSourceResponse(
                _stream(service, job, events, model_id, client, body),
                ping=15, send_timeout=30)
        return await _whole(service, job, events, request, model_id, client, body)

    return app


def _finished(service: Service, job: Job, outcome: Outcome, client: str,
              body: ChatRequest) -> None:
    """Count the answer for its version; the rollout's pace after it."""
    try:
        store = service.session.store
        last_user = next((m.text() for m in reversed(body.messages) if m.role == "user"), "")
        keep = settings.load(service.home).keep_content
        records.record(store, job.assistant_id, outcome, client=client,
                       kept_request=last_user if keep else None)
        changed = records.after_answer(store, job.assistant_id)
        if service.on_answer is not None:
            service.on_answer(job.assistant_id, changed)
    except KindredError as exc:  # the client has its answer; the count is what failed
        log.warning("An API answer could not be counted: %s", exc)


async def _whole(service: Service, job: Job, events: asyncio.Queue[tuple[str, Any]],
                 request: Request, model_id: str, client: str, body: ChatRequest
                 ) -> dict[str, Any]:
    cid, created = protocol.completion_id(), int(time.time())
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(events.get(), 0.5)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancelled.set()
                continue
            if kind == "error":
                job.finished = True
                raise ApiError(500, str(value), "server_error")
            if kind == "done":
                _finished(service, job, value, client, body)
                job.finished = True
                return protocol.completion(cid, model_id, value.text, value.finish_reason,
                                           value.tokens_in, value.tokens_out, created)
    finally:
        _leave(job)


async def _stream(service: Service, job: Job, events: asyncio.Queue[tuple[str, Any]],
                  model_id: str, client: str, body: ChatRequest) -> AsyncIterator[str]:
    """Server-sent events as OpenAI sends them: a role chunk, content chunks, a chunk with the
    finish reason, then `[DONE]`. A client that goes away cancels the answer."""
    cid, created = protocol.completion_id(), int(time.time())
    try:
        yield json.dumps(protocol.chunk(cid, model_id, created,
                                        {"role": "assistant", "content": ""}))
        while True:
            kind, value = await events.get()
            if kind == "piece":
                yield json.dumps(protocol.chunk(cid, model_id, created, {"content": value}))
            elif kind == "error":
                job.finished = True
                yield json.dumps(error_body(str(value), "server_error"))
                break
            else:
                job.finished = True
                _finished(service, job, value, client, body)
                usage = {"prompt_tokens": value.tokens_in,
                         "completion_tokens": value.tokens_out,
                         "total_tokens": value.tokens_in + value.tokens_out}
                yield json.dumps(protocol.chunk(cid, model_id, created, {},
                                                value.finish_reason, usage))
                break
        yield "[DONE]"
    finally:
        _leave(job)


def _leave(job: Job) -> None:
    """The request is over for its client: an answer still being written stops (and is
    counted when it ends)."""
    if not job.finished:
        job.abandoned = True
        job.cancelled.set()
