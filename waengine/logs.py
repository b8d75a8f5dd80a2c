"""Logs an operator's tools can read: request ids, session ids, secrets masked, optional JSON.

`LOG_FORMAT=json` makes every line (the app's, gunicorn's and its access log) one JSON object:
`ts, level, logger, thread, session, event, requestId, message`, plus `method, path, status,
durationMs` on access lines. The default stays human text. Either way `ContextFilter` adds
the request and session ids to every record, and both formatters mask secrets in what they
print (the record itself is left alone: other handlers, e.g. pytest's, see it unchanged).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from urllib.parse import unquote_plus

from flask import g, has_request_context, request
from gunicorn import glogging

from .store import iso_utc
from .vocabulary import SESSION_ID

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept if it is short and plain (it is echoed in a header and in logs).
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
_SESSION_PATH = re.compile(rf"^/sessions/({SESSION_ID.pattern.strip('^$')})(?:/|$)")
_SESSION_THREAD = re.compile(r"^wa-session-(.+)$")
# The engine's lines about one session start "session <id>:" (engine/session.py, manager.py).
_SESSION_MESSAGE = re.compile(rf"^session ({SESSION_ID.pattern.strip('^$')}):")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(threadName)s [%(requestId)s %(session)s]: %(message)s"
_SECRET_NAME = re.compile(r"(?i)api[-_]?keys?|token|secret|passw|authorization")
_MASKS = (
    # http://user:password@host: a proxy or webhook URL with credentials
    (re.compile(r"(?<=://)([^/\s:@\"']+):([^/\s@\"']+)@"), r"\1:***@"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]{4,}"), "whsec_***"),
    # secret=…, "apiKey": "…", token=…, Authorization: Bearer …
    (re.compile(r"(?i)\b(api[-_]?keys?|token|secret|password|passwd|authorization|x-api-key)"
                r"(\"?'?\s*[:=]\s*\"?'?)(?:bearer\s+)?[^\s\"',&}\]]+"), r"\1\2***"),
    # ?%74oken=…: a query parameter whose name is percent-encoded is the same parameter to a
    # server that decodes names, so it is masked by its decoded name.
    (re.compile(r"(?<=[?&;])([^=&;\s\"]*%[0-9A-Fa-f]{2}[^=&;\s\"]*)=([^&;\s\"]*)"),
     lambda m: f"{m[1]}=***" if _SECRET_NAME.search(unquote_plus(m[1])) else m[0]),
)


class _Secrets:
    """Values that must never be printed (API keys, the global webhook secret)."""

    def __init__(self):
        self.values: frozenset[str] = frozenset()
        self.lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self.lock:
            # Masking values under 8 characters would garble ordinary words.
            self.values = self.values | {v for v in values if v and len(v) >= 8}


SECRETS = _Secrets()


# Every pattern of _MASKS needs one of these: most text (a request line, an address, a status)
# has none, and one search costs a third of the three substitutions.
_MAYBE_MASKED = re.compile(r"://|whsec_|(?i:api[-_]?key|token|secret|passw|authorization)|%")


def redact(text: str) -> str:
    """The text with secrets, credentials in URLs and key=value secrets masked."""
    for value in SECRETS.values:
        if value in text:
            text = text.replace(value, "***")
    if _MAYBE_MASKED.search(text) is None:
        return text
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class ContextFilter(logging.Filter):
    """Add `requestId`, `session` and `event` to every record (and lift gunicorn's access
    fields); it only adds attributes, so other handlers still see the record as it was."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_access(record):
            _access_fields(record)
        if not getattr(record, "requestId", None):
            record.requestId = current_request_id()
        if not getattr(record, "session", None):
            record.session = _session_of(record)
        record.event = getattr(record, "event", None)
        return True


def _is_access(record: logging.LogRecord) -> bool:
    return record.name == "gunicorn.access" and isinstance(record.args, dict)


def _session_of(record: logging.LogRecord) -> str | None:
    if has_request_context():
        session = (request.view_args or {}).get("session_id")
        if session:
            return session
    match = (_SESSION_THREAD.match(record.threadName or "")
             or _SESSION_MESSAGE.match(record.getMessage()))
    return match.group(1) if match else None


def _access_fields(record: logging.LogRecord) -> None:
    """gunicorn's access record carries its atoms (a dict) as args: lift the useful ones."""
    atoms = record.args
    record.method = atoms.get("m")
    record.path = redact(atoms.get("U") or "")
    record.status = int(atoms["s"]) if str(atoms.get("s", "")).isdigit() else atoms.get("s")
    record.durationMs = int(atoms["M"]) if str(atoms.get("M", "")).isdigit() else None
    record.requestId = atoms.get("{x-request-id}o") or None
    match = _SESSION_PATH.match(atoms.get("U") or "")
    record.session = match.group(1) if match else None
    record.event = "http.request"


@functools.lru_cache(maxsize=8)
def _atoms_in(fmt: str) -> tuple[str, ...]:
    """The atoms an access-log format names: %(r)s, %({x-request-id}o)s, ..."""
    return tuple(dict.fromkeys(re.findall(r"%\(([^)]+)\)", fmt)))


# The atoms ContextFilter lifts into an access record's fields (_access_fields).
_FIELD_ATOMS = ("m", "U", "s", "M", "{x-request-id}o")
_BASE_ATOMS = {
    "h": lambda log, resp, environ, took: environ.get("REMOTE_ADDR", "-"),
    "l": lambda log, resp, environ, took: "-",
    "u": lambda log, resp, environ, took: log._get_user(environ) or "-",
    "t": lambda log, resp, environ, took: log.now(),
    "r": lambda log, resp, environ, took: (
        f'{environ["REQUEST_METHOD"]} {environ["RAW_URI"]} {environ["SERVER_PROTOCOL"]}'),
    "s": lambda log, resp, environ, took: (
        resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status),
    "m": lambda log, resp, environ, took: environ.get("REQUEST_METHOD"),
    "U": lambda log, resp, environ, took: environ.get("PATH_INFO"),
    "q": lambda log, resp, environ, took: environ.get("QUERY_STRING"),
    "H": lambda log, resp, environ, took: environ.get("SERVER_PROTOCOL"),
    "b": lambda log, resp, environ, took: (
        getattr(resp, "sent", None) is not None and str(resp.sent) or "-"),
    "B": lambda log, resp, environ, took: getattr(resp, "sent", None),
    "f": lambda log, resp, environ, took: environ.get("HTTP_REFERER", "-"),
    "a": lambda log, resp, environ, took: environ.get("HTTP_USER_AGENT", "-"),
    "T": lambda log, resp, environ, took: took.seconds,
    "D": lambda log, resp, environ, took: took.seconds * 1000000 + took.microseconds,
    "M": lambda log, resp, environ, took: took.seconds * 1000 + int(took.microseconds / 1000),
    "L": lambda log, resp, environ, took: f"{took.seconds}.{took.microseconds:06d}",
    "p": lambda log, resp, environ, took: f"<{os.getpid()}>",
}


@functools.lru_cache(maxsize=8)
def _access_atoms(fmt: str) -> tuple[str, ...]:
    """The atoms an access line needs: those its format shows and those of the JSON fields,
    header and environ atoms in gunicorn's spelling ({name}i lowercased). Atoms gunicorn
    does not know are left out: SafeAtoms shows "-" for them."""
    wanted = []
    for key in (*_atoms_in(fmt), *_FIELD_ATOMS):
        if key not in _BASE_ATOMS:
            if not (key.startswith("{") and key[-2:] in ("}i", "}o", "}e")):
                continue
            key = key.lower()
        if key not in wanted:
            wanted.append(key)
    return tuple(wanted)


def _pairs(source) -> list:
    headers = getattr(source, "headers", source)
    return list(headers.items() if hasattr(headers, "items") else headers)


class AccessLogger(glogging.Logger):
    """gunicorn's logger, building only the atoms the access line and its fields use.

    gunicorn's own atoms() puts every request header, response header and environ variable
    into the dict (some forty entries), and access() copies that dict again to escape quotes,
    on every request, for a line that shows six: a cached read spent more of its time there
    than in Flask (py-spy under wrk, docs/performance.md "Cached reads against bare Flask").
    The values are gunicorn's own, so the line reads the same.
    """

    def atoms(self, resp, req, environ, request_time):
        atoms = {}
        found: dict[str, dict] = {}  # "i", "o", "e" -> that source's pairs, keys lowercased
        for atom in _access_atoms(self.cfg.access_log_format):
            make = _BASE_ATOMS.get(atom)
            if make is not None:
                atoms[atom] = make(self, resp, environ, request_time)
                continue
            where, name = atom[-1], atom[1:-2]
            if where not in found:
                pairs = environ.items() if where == "e" else _pairs(req if where == "i" else resp)
                found[where] = {k.lower(): v for k, v in pairs}
            if name in found[where]:
                atoms[atom] = found[where][name]
        return atoms


def message_of(record: logging.LogRecord) -> str:
    """The record's message with secrets masked (access lines: each atom shown masked first).

    gunicorn's atoms hold every request and response header too; only those the format
    shows are masked (masking all of them took a third of a cached read's time, measured
    with py-spy under wrk)."""
    if _is_access(record):
        args = record.args
        atoms = {}
        for key in _atoms_in(record.msg):  # gunicorn's lookup: header atoms in any case, else -
            value = args.get(key, args.get(key.lower(), "-"))
            atoms[key] = redact(value) if isinstance(value, str) else value
        return record.msg % atoms
    return redact(record.getMessage())


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": iso_utc(record.created, timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "session": getattr(record, "session", None),
            "event": getattr(record, "event", None),
            "requestId": getattr(record, "requestId", None),
            "message": message_of(record),
        }
        if _is_access(record):
            out.update(method=getattr(record, "method", None), path=getattr(record, "path", None),
                       status=getattr(record, "status", None),
                       durationMs=getattr(record, "durationMs", None))
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            out["stack"] = redact(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The human format; `-` where a line has no request or session.

    A line without an exception or a stack (every access line) is written straight from the
    record's fields, with the time's text made once per second: the generic path copies the
    record and formats its time for every line, which showed under load (docs/performance.md
    "Cached reads against bare Flask").
    """

    def __init__(self):
        super().__init__(TEXT_FORMAT)
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            second = int(record.created)
            cached = self._second
            if cached[0] != second:
                cached = self._second = (second, time.strftime(
                    self.default_time_format, self.converter(record.created)))
            fields = dict(record.__dict__)  # other handlers keep the record as it was
            fields.update(
                asctime=self.default_msec_format % (cached[1], record.msecs),
                message=message_of(record),
                requestId=getattr(record, "requestId", None) or "-",
                session=getattr(record, "session", None) or "-")
            return TEXT_FORMAT % fields
        shown = copy.copy(record)  # other handlers keep the record as it was
        shown.msg, shown.args = message_of(record), None
        shown.requestId = getattr(record, "requestId", None) or "-"
        shown.session = getattr(record, "session", None) or "-"
        if record.exc_info:
            shown.exc_info, shown.exc_text = None, redact(self.formatException(record.exc_info))
        return super().format(shown)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def gunicorn_logconfig(log_format: str, level: str = "INFO") -> dict:
    """gunicorn's `logconfig_dict`: its error and access logs and the root logger, one format."""
    fmt = {"()": "waengine.logs.JsonFormatter"} if log_format == "json" else {
        "()": "waengine.logs.TextFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "waengine.logs.ContextFilter"}},
        "formatters": {"main": fmt},
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                              "formatter": "main", "filters": ["context"]},
            "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                        "formatter": "main", "filters": ["context"]},
        },
        "root": {"level": level, "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }


def configure(config: dict) -> None:
    """Set up the root logger for the app (unless gunicorn's logconfig_dict already did)."""
    SECRETS.add(*_secret_values(config))
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: whoever set up logging first decides
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(config["LOG_FORMAT"]))
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
        root.setLevel(config["LOG_LEVEL"])
    # Python warnings go to stderr as bare text; as log records they keep the line format.
    logging.captureWarnings(True)


def _secret_values(config: dict) -> list[str]:
    keys = config.get("API_KEYS") or []
    if isinstance(keys, str):
        keys = keys.split(",")
    # A scoped key is written key:session|session (auth.py): the key is the part before ':'.
    values = [k.strip().split(":")[0] for k in keys]
    return [*values, config.get("WEBHOOK_SECRET") or ""]


class _RequestIds:
    """32 hex digits, unique per process: 16 random ones drawn once per process (drawn again in
    a forked child, so gunicorn's workers differ) and a counter. uuid4() read the OS's random
    source on every request, a system call that gave up the GIL and waited to get it back
    under load."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix, self._count = uuid.uuid4().hex[:16], itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):016x}"


new_request_id = _RequestIds().next


def request_id_for(given: str) -> str:
    """The request's id: the caller's X-Request-ID if it is short and plain, else a new one."""
    return given if _CLIENT_REQUEST_ID.fullmatch(given) else new_request_id()


def init_app(app) -> None:
    """Take or make each request's id, answer it in X-Request-ID (first, so every line has it)."""

    @app.before_request
    def _request_id():
        g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))

    @app.after_request
    def _echo_request_id(response):
        response.headers[REQUEST_ID_HEADER] = current_request_id() or new_request_id()
        return response
