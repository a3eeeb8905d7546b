"""Structured logs: one line per request (request id, tenant, route, status, duration), no personal data.

The route is the handler's path template (``/requests/{id}``), never the raw
path or query string, which may carry a name or an e-mail address. Tracebacks are
plain text without local variables (they held passwords, CSRF tokens and session ids,
and rendering them stalled the process for seconds), and every line goes through
``redact`` before it is written: values of secret-sounding keys, e-mail addresses,
phone numbers and URL credentials are masked.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bippop.config import Settings
from bippop.tenants.resolution import plain_response

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_log = structlog.get_logger("bippop.request")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the audit log records of the request an action came from."""

    request_id: str
    address: str | None


_request: ContextVar[RequestInfo | None] = ContextVar("bippop_request", default=None)


def current_request() -> RequestInfo | None:
    return _request.get()


def configure_logging(settings: Settings) -> None:
    """stdlib and structlog both end in one renderer: JSON in production, readable in a terminal."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # The access line is written for every request: its cost counts (issue 13). JSON in production; in a
    # terminal a plain ``time [level] event key=value`` line (structlog's ConsoleRenderer took five times
    # as long), the traceback below it.
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if settings.log_format == "json" else console_line
    )
    # Where each line was logged from (file, function, thread, process) is never written: not computed.
    logging._srcfile = None  # the logging module's documented switch (« Optimization »)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # In every format the traceback becomes plain text first (no local variables), so that
            # ``redact`` sees it too.
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Our own access line replaces uvicorn's, which would log raw paths.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("botocore", "urllib3", "pika", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Keys whose values are never written, whatever they hold.
MASKED_KEYS = re.compile(
    r"pass(word|wd|phrase)?|secret|token|session|csrf|cookie|authori[sz]ation|credential|api_?key"
    r"|e_?mail|phone|address",
    re.IGNORECASE,
)
# Personal data and credentials inside any text (messages, exception texts, tracebacks).
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d{1,3}[ .-]?\(?0?\)?[ .-]?[1-9](?:[ .-]?\d){7,12}|0[1-9](?:[ .-]?\d{2}){4})(?![\w])"
)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]*:[^/\s@]*@")
_DIGITS = re.compile(r"\d")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MASK = "[redacted]"
# Keys whose values the platform itself makes (a validated request id, a tenant's slug…).
SAFE_KEYS = frozenset(("timestamp", "level", "logger", "request_id", "tenant"))


def redact_text(text: str) -> str:
    if "@" not in text and not _DIGITS.search(text):
        return text  # no address, no credentials, no number: nothing to mask (most values)
    text = _URL_CREDENTIALS.sub(MASK + "@", text)
    text = _EMAIL.sub(MASK, text)
    return _PHONE.sub(MASK, text)


def _plain(value: object) -> str:
    """A value on one line: a text with a line break or another control character is written quoted
    (``repr``), so that nothing a visitor sent can forge a line of its own."""
    text = str(value)
    return repr(text) if _CONTROL.search(text) else text


def console_line(_logger: object, _name: str, event: structlog.types.EventDict) -> str:
    """``2026-12-03T07:00:00Z [info] request method=GET route=/ …``, then the traceback if any."""
    exception = event.pop("exception", None)
    head = f"{event.pop('timestamp', '')} [{event.pop('level', '')}] {_plain(event.pop('event', ''))}"
    rest = " ".join(f"{key}={_plain(value)}" for key, value in event.items())
    line = f"{head} {rest}" if rest else head
    return f"{line}\n{exception}" if exception else line


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value  # counts and durations say nothing about anyone
    if MASKED_KEYS.search(key):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(key, item) for item in value]
    return redact_text(repr(value))


def redact(_logger: object, _name: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """Mask secrets and personal data in every value of the line (last processor before rendering)."""
    for key in list(event):
        if key in ("event", "exception"):
            event[key] = redact_text(str(event[key]))
        elif key not in SAFE_KEYS:
            event[key] = _redact_value(key, event[key])
    return event


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestLogMiddleware(ASGIMiddleware):
    """Outermost middleware: binds the request id for every log line and writes the access line.

    An exception raised by an inner middleware (CSRF, host resolution, a body too large, the
    database down) is turned into its response here, by the app's exception handlers, so that the
    access line records the status the person really got, and the response carries the request id.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if "\x00" in scope.get("path", ""):
            # A NUL byte is never a valid path, and file lookups choke on it.
            await plain_response(send, 400, "Bad Request")
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope["state"]["request_id"] = request_id
        client = scope.get("client")
        token = _request.set(RequestInfo(request_id, client[0] if client else None))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            try:
                await next_app(scope, receive, send_with_id)
            except Exception as exc:
                if response_started or not await _send_error_response(scope, receive, send_with_id, exc):
                    raise
        finally:
            handler = scope.get("route_handler")
            access_log.info(
                "request",
                method=scope.get("method"),
                route=scope.get("path_template") or (handler.paths and next(iter(handler.paths))),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.clear_contextvars()
            _request.reset(token)


async def _send_error_response(scope: Scope, receive: Receive, send: Send, exc: Exception) -> bool:
    """Answer with the app's handler for ``exc`` (nearest class first); False when it has none."""
    handlers: Mapping[Any, Any] = scope["litestar_app"].exception_handlers
    handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
    if handler is None and isinstance(exc, HTTPException):
        handler = handlers.get(exc.status_code)
    if handler is None:
        return False
    request: Request[Any, Any, Any] = Request(scope, receive, send)
    response = handler(request, exc)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)
    return True
