"""Request guards run before every view: path parameters, the body's media type, strict JSON.

Views and schemas then see only bounded path parameters (a session id is checked before any
file-system use) and a body that is UTF-8 JSON of a type the route declared, so a malformed
request gets a 4xx envelope from here instead of a 500 (or an HTML page) from deeper down.
"""

from __future__ import annotations

import json
import re

from apiflask.schema_adapters.marshmallow import parser as input_parser
from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from webargs.core import missing

from .errors import Forbidden, InvalidJSON, PayloadTooLarge, UnsupportedMediaType, ValidationError
from .vocabulary import check_session_id

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PATH_PARAM_MAX = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A \uD800-\uDFFF escape: only then can a parsed string hold a lone surrogate (slow check).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_path_params() -> None:
    """422 for a bad session id or an overlong/control-character path parameter."""
    for name, value in (request.view_args or {}).items():
        if name == "session_id":
            check_session_id(value)
        elif isinstance(value, str) and (len(value) > PATH_PARAM_MAX or _CONTROL.search(value)):
            raise ValidationError(f"Path parameter {name} is not valid (at most "
                                  f"{PATH_PARAM_MAX} characters, no control characters)",
                                  details={"field": name})


def declared_media_types() -> list[str]:
    """Media types the route's @input declares for its body (none: the route takes no body)."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    spec = getattr(view, "_spec", None) or {}
    if "body" not in spec:
        return []
    types = spec.get("content_type") or "application/json"
    return [types] if isinstance(types, str) else list(types)


def has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", "").lower()


def check_media_type() -> None:
    """415 for a body whose Content-Type the route does not take."""
    declared = declared_media_types()
    if not declared or not has_body():
        return
    accepted = request.is_json if "application/json" in declared else False
    if not (accepted or request.mimetype in declared):
        raise UnsupportedMediaType(
            f"Send this body as {' or '.join(declared)}, not {request.mimetype or 'untyped'}",
            details={"accepted": declared})


def check_chunked_size() -> None:
    """413 for a chunked body over MAX_CONTENT_LENGTH, as for a declared Content-Length.

    Werkzeug stops reading a chunked body at the limit and hands the view what it read: a
    truncated body, processed. Here it is read (up to the limit, cached for the view) and one
    byte more is asked of the server's stream: if there is one, the body was too large."""
    if request.content_length is not None or "chunked" not in request.headers.get(
            "Transfer-Encoding", "").lower():
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and len(request.get_data(cache=True)) >= limit \
            and request.environ["wsgi.input"].read(1):
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes",
                              details={"limit": limit})


# Content types a web page may send another site without asking it first (CORS "simple"
# requests): with auth off, a page could make an operator's browser POST them to the gateway.
_SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
CSRF_HEADER = "X-Requested-With"


def check_browser_write() -> None:
    """With auth off, a state-changing request from a browser needs a JSON body or a custom
    header (X-Requested-With): either makes a cross-site page's request ask first (CORS
    preflight), which the gateway never answers yes to.

    A browser is told by its Origin or Sec-Fetch-Site header (every current browser sends one
    on a POST); programs send neither and no web page can make them send a request. With keys,
    a page has no key to send, so this is not needed."""
    headers = request.headers
    if not (headers.get("Origin") or headers.get("Sec-Fetch-Site")) or CSRF_HEADER in headers:
        return
    if request.mimetype in _SIMPLE_TYPES or not request.mimetype:
        raise Forbidden("A browser's request to change something needs Content-Type: "
                        f"application/json or an {CSRF_HEADER} header while auth is off",
                        details={"header": CSRF_HEADER})


def security_headers(response):
    """nosniff on every answer; /docs (Swagger UI) may not be framed (clickjacking)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path == "/docs" or request.path.startswith("/docs/"):
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def parse_strict_json(data: bytes):
    """Parse a JSON body as RFC 8259 says (UTF-8, no NaN); raise InvalidJSON with the place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidJSON("The body is not valid UTF-8", details={"position": e.start}) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InvalidJSON(f"The body is not valid JSON: {e.msg}",
                          details={"line": e.lineno, "column": e.colno}) from None
    except RecursionError:
        raise InvalidJSON("The body is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJSON("The body holds an unpaired UTF-16 surrogate escape") from None
    return value


def _reject_constant(name: str):
    raise InvalidJSON(f"The body is not valid JSON: {name} is not a JSON number")


def load_json_body(req):
    """The JSON body of a route whose @input reads JSON, parsed once and strictly (400).

    Installed as the schema parser's (webargs') raw JSON loader, whose own json.loads would let
    NaN through and turn deep nesting into a 500. Routes that read their body themselves
    (media: size and session checks first) get StrictJSONProvider.
    """
    if not req.is_json:
        return missing
    data = req.get_data(cache=True)  # enforces MAX_CONTENT_LENGTH (413)
    return parse_strict_json(data) if data else missing


class StrictJSONProvider(DefaultJSONProvider):
    """request.get_json() with the same strictness; InvalidJSON is no ValueError, so even
    get_json(silent=True) answers 400 instead of treating a broken body as missing."""

    def loads(self, s, **kwargs):
        return parse_strict_json(s if isinstance(s, bytes) else s.encode("utf-8", "surrogatepass"))


def init_app(app) -> None:
    # Otherwise "/sessions//etc" answers an HTML 308 to "/sessions/etc": an absolute path
    # turned into a session id, and a page no API client expects. Here it is a 404 envelope.
    app.url_map.merge_slashes = False
    provider = StrictJSONProvider(app)
    provider.sort_keys = app.json.sort_keys
    app.json = provider
    # apiflask's one module-level webargs parser: an instance attribute replaces its loader.
    input_parser._raw_load_json = load_json_body

    open_api = not app.config["API_KEYS"]

    @app.before_request
    def guard_request():
        check_path_params()
        if request.method in BODY_METHODS:
            check_chunked_size()
            if open_api:
                check_browser_write()
            check_media_type()

    app.after_request(security_headers)
