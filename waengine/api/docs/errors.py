"""The error envelope, what each error status means, and `responses()` for routes."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Dict, Nested, String


class ErrorDetail(Schema):
    code = String(required=True, metadata={"example": "session_not_found"})
    message = String(required=True)
    details = Dict(required=True)


class Error(Schema):
    """Every error: `{"error": {"code", "message", "details"}}` (docs/api.md)."""

    error = Nested(ErrorDetail, required=True)


ERRORS = {
    400: "`bad_request` / `invalid_json`: a malformed request or a body that is not UTF-8 JSON",
    401: "`unauthorized`: no valid API key (`WWW-Authenticate` names the scheme)",
    403: "`forbidden`: the API key is scoped to other sessions",
    404: "`not_found` / `session_not_found`",
    409: "`session_exists` / `session_not_ready`",
    413: "`payload_too_large`: the body is over MAX_CONTENT_LENGTH",
    415: "`unsupported_media_type`: a body of a type this route does not take",
    422: "`validation_error`: a field, query or path parameter is not valid",
    426: "`upgrade_required`: a WebSocket route called without `Upgrade: websocket`",
    429: "`too_many_requests` (`Retry-After`)",
    500: "`internal_error`",
    502: "`whatsapp_error`: WhatsApp Web returned an error; `send_failed`: WhatsApp did not "
         "take a send (`details.waCode`)",
    503: "`capacity_exceeded` / `browser_unavailable` / `whatsapp_unavailable`: WhatsApp did "
         "not answer a number lookup (`Retry-After`)",
    504: "`command_timeout`: the browser did not answer in time",
}
# A route that runs a command in the session's browser can meet these.
BROWSER_ERRORS = (409, 502, 503, 504)
# Cached list routes: the ETag of the list; If-None-Match with it answers 304.
NOT_MODIFIED = {304: {"description": "Not Modified: the list still has the ETag sent in "
                                     "If-None-Match (no body)"}}


def responses(schema=None, status: int = 200, *, errors=(), description: str = "",
              content_type: str = "application/json", also: dict | None = None) -> dict:
    """`@bp.doc(responses=...)` for a route: its success body, plus error statuses it may add.

    `also` maps more media types of the success response to schemas (e.g. image/png).
    Without a schema the body is documented as a JSON object.
    """
    content = {content_type: {"schema": schema if schema is not None else {"type": "object"}}}
    for media, media_schema in (also or {}).items():
        content[media] = {"schema": media_schema}
    out: dict = {status: {"description": description or "Success", "content": content}}
    for code in errors:
        out[code] = ERRORS[code]
    return out
