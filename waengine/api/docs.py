"""The OpenAPI document: response schemas, the error envelope, the auth scheme, offline /docs.

Request schemas (schemas.py) validate input and describe it; the schemas here only describe
what views return, so views keep returning plain dicts (no @output filtering). Routes name
their success schema and their own error statuses with `responses()`; what every route shares
(401/403, malformed bodies, the envelope, path parameter patterns) is added once, in
`complete_spec`, so a new route is documented consistently without repeating it.
"""

from __future__ import annotations

from pathlib import Path

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, String
from apiflask.validators import OneOf
from flask import Blueprint, abort, send_from_directory
from marshmallow import INCLUDE

from ..config import PROJECT_ROOT
from ..engine.manager import SESSION_ID
from ..events.outbox import EVENT_TYPES

SWAGGER_UI_DIR = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"
# The files /docs needs, served from the npm package (`npm ci`): no CDN, works on a closed LAN.
SWAGGER_UI_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                     "favicon-32x32.png")
ASSETS_PATH = "/docs/assets"
STATUSES = ("STARTING", "SCAN_QR", "CONNECTED", "RECOVERING", "STOPPED", "FAILED")
ACKS = ("pending", "sent", "delivered", "read", "failed")
TIME = {"format": "date-time", "description": "ISO 8601 UTC"}


class Out(Schema):
    """A response body: the listed fields are the contract; more may come (API.md)."""

    class Meta:
        unknown = INCLUDE


# ---- errors ----
class ErrorDetail(Schema):
    code = String(required=True, metadata={"example": "session_not_found"})
    message = String(required=True)
    details = Dict(required=True)


class Error(Schema):
    """Every error: `{"error": {"code", "message", "details"}}` (API.md)."""

    error = Nested(ErrorDetail, required=True)


# ---- sessions ----
class Me(Out):
    id = String(required=True, metadata={"example": "6281234567890@c.us"})
    name = String(allow_none=True)


class BrowserInfo(Out):
    pid = Integer(required=True)
    rssMb = Float(allow_none=True)


class Session(Out):
    id = String(required=True, metadata={"pattern": SESSION_ID.pattern})
    status = String(required=True, validate=OneOf(STATUSES))
    statusReason = String(required=True, allow_none=True,
                          metadata={"example": "qr_expired"})
    me = Nested(Me, required=True, allow_none=True)
    createdAt = String(required=True, metadata=TIME)
    lastActivityAt = String(required=True, allow_none=True, metadata=TIME)
    restarts = Integer(required=True)
    browser = Nested(BrowserInfo, required=True, allow_none=True)


class SessionList(Out):
    data = List(Nested(Session), required=True)


class QrCode(Out):
    qr = String(required=True, metadata={"description": "the string the phone scans"})
    expiresAt = String(required=True, metadata=TIME)


class PairingCode(Out):
    code = String(required=True, metadata={"example": "ABCD-EFGH"})


class Cleared(Out):
    cleared = Integer(required=True)


# ---- events and webhooks ----
class Webhook(Out):
    url = String(required=True, allow_none=True)
    events = List(String(validate=OneOf(EVENT_TYPES)), required=True)
    hasSecret = Boolean(required=True)


class Delivery(Out):
    eventId = String(required=True)
    type = String(required=True)
    createdAt = String(required=True, metadata=TIME)
    status = String(required=True, validate=OneOf(("pending", "delivered", "failed")))
    url = String(required=True)
    attempts = Integer(required=True)
    nextAttemptAt = String(allow_none=True, metadata=TIME)
    lastError = String(allow_none=True)
    lastStatus = Integer(allow_none=True)
    deliveredAt = String(allow_none=True, metadata=TIME)


class DeliveryList(Out):
    data = List(Nested(Delivery), required=True)


class Retried(Out):
    retried = Integer(required=True)


class Event(Out):
    """A webhook body, and the `data:` of an SSE event."""

    id = String(required=True, metadata={"example": "evt_018f2a3b4c5d1a2b3c4d5e"})
    session = String(required=True)
    type = String(required=True, validate=OneOf(EVENT_TYPES))
    timestamp = String(required=True, metadata=TIME)
    data = Dict(required=True)


# ---- messages, chats, contacts, groups ----
class Location(Out):
    latitude = Float(allow_none=True)
    longitude = Float(allow_none=True)


class Message(Out):
    id = String(required=True)
    chatId = String(required=True)
    to = String(required=True, allow_none=True)
    fromMe = Boolean(required=True)
    type = String(required=True, allow_none=True)
    body = String(required=True)
    timestamp = Integer(required=True, allow_none=True, metadata={"description": "unix seconds"})
    ack = String(required=True, validate=OneOf(ACKS))
    caption = String()
    mimetype = String()
    filename = String()
    quotedId = String()
    location = Nested(Location)
    from_ = String(required=True, allow_none=True, data_key="from")
    senderIds = Dict(metadata={"description": "the sender as {phone: …@c.us, lid: …@lid}, "
                                              "each where WhatsApp gave it"})


class MessageList(Out):
    data = List(Nested(Message), required=True)


class Queued(Out):
    """A send in the session's paced queue (and, once sent, the message it became)."""

    id = String(required=True, metadata={"example": "out_0194c1f2a3b4c5d6e7f8a9"})
    status = String(required=True, validate=OneOf(("queued", "sent", "failed")))
    to = String(required=True, allow_none=True)
    attempts = Integer(required=True)
    createdAt = String(required=True, metadata=TIME)
    message = Nested(Message, allow_none=True)
    error = Dict(allow_none=True)


class QueuedList(Out):
    data = List(Nested(Queued), required=True)


class Chat(Out):
    id = String(required=True)
    name = String(allow_none=True)


class ChatList(Out):
    data = List(Nested(Chat), required=True)
    cached = Boolean(required=True)


class Contact(Out):
    id = String(required=True)
    phone = String(allow_none=True)
    name = String(allow_none=True)
    pushname = String(allow_none=True)
    isMyContact = Boolean(allow_none=True)
    isBusiness = Boolean(allow_none=True)


class ContactList(Out):
    data = List(Nested(Contact), required=True)
    cached = Boolean(required=True)


class Exists(Out):
    exists = Boolean(required=True)
    id = String(required=True, allow_none=True)


class Participant(Out):
    id = String(required=True)
    isAdmin = Boolean()


class Group(Out):
    id = String(required=True)
    name = String(allow_none=True)
    participants = List(Nested(Participant), required=True)
    owner = String(allow_none=True)


class GroupList(Out):
    data = List(Nested(Group), required=True)
    cached = Boolean(required=True)


# ---- monitoring ----
class Health(Out):
    """Not the error envelope even at 503: load balancers read `status`."""

    status = String(required=True, validate=OneOf(("ok", "unhealthy")))
    sessions = Dict(keys=String(), values=Integer(), required=True,
                    metadata={"example": {"CONNECTED": 3}})
    reason = String(metadata={"description": "why the engine cannot serve (503 only)"})


class PerformanceFigures(Out):
    activeSessions = Integer(required=True)
    cacheHitRate = Float(required=True, allow_none=True)
    averageResponseTime = Float(required=True, allow_none=True, metadata={"description": "ms"})


class SessionMemory(Out):
    id = String(required=True)
    status = String(required=True, validate=OneOf(STATUSES))
    browserRssMb = Float(required=True, allow_none=True)
    browserPssMb = Float(required=True, allow_none=True)
    processes = Integer(required=True)


class Performance(Out):
    memoryUsage = Dict(required=True, metadata={
        "description": "rss, heapUsed, browsers, total as MB strings (the seed's shape), "
                       "and the same as numbers in rssMb, heapUsedMb, browsersMb, totalMb"})
    performance = Nested(PerformanceFigures, required=True)
    sessions = List(Nested(SessionMemory), required=True)


# ---- building the document ----
ERRORS = {
    400: "`bad_request` / `invalid_json`: a malformed request or a body that is not UTF-8 JSON",
    401: "`unauthorized`: no valid API key (`WWW-Authenticate` names the scheme)",
    403: "`forbidden`: the API key is scoped to other sessions",
    404: "`not_found` / `session_not_found`",
    409: "`session_exists` / `session_not_ready`",
    413: "`payload_too_large`: the body is over MAX_CONTENT_LENGTH",
    415: "`unsupported_media_type`: a body of a type this route does not take",
    422: "`validation_error`: a field, query or path parameter is not valid",
    429: "`too_many_requests` (`Retry-After`)",
    500: "`internal_error`",
    502: "`whatsapp_error`: WhatsApp Web returned an error",
    503: "`capacity_exceeded` / `browser_unavailable` (`Retry-After`)",
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


def _error_response(code: int, ref: dict) -> dict:
    response = {"description": ERRORS.get(code, "Error"),
                "content": {"application/json": {"schema": ref}}}
    if code == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                    "description": "Bearer realm=\"waengine\""}}
    if code in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                               "description": "seconds to wait"}}
    return response


def complete_spec(spec: dict, config) -> dict:
    """Add what every route shares: the auth scheme, error responses, parameter patterns."""
    from ..auth import open_route

    _merge_duplicate_schemas(spec)
    ref = {"$ref": "#/components/schemas/Error"}
    spec["security"] = [{"ApiKeyAuth": []}, {"BearerAuth": []}]
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = {500}
            if open_route(path, config):
                op["security"] = []
            else:
                codes |= {401, 403}
            if method != "get":
                codes |= {400, 413}
            if "requestBody" in op:
                codes |= {415, 422}
            params = op.get("parameters", [])
            if any(p.get("in") == "path" for p in params):
                codes |= {404, 422}
            if any(p.get("in") == "query" for p in params):
                codes.add(422)
            for code in sorted(codes):
                op["responses"].setdefault(str(code), _error_response(code, ref))
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")) and code not in ("401",):
                    extra = _error_response(int(code), ref).get("headers")
                    if extra:
                        response.setdefault("headers", extra)
            for param in params:
                if param.get("in") == "path":
                    _bound_path_param(param)
    return spec


def _merge_duplicate_schemas(spec: dict) -> None:
    """Point `X1` at `X` when both hold the same schema (one class used nested and as a body)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    renames = {}
    for name in list(schemas):
        base = name.rstrip("0123456789")
        if base != name and schemas.get(base) == schemas[name]:
            renames[f"#/components/schemas/{name}"] = f"#/components/schemas/{base}"
            del schemas[name]

    def walk(node):
        if isinstance(node, dict):
            if node.get("$ref") in renames:
                node["$ref"] = renames[node["$ref"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if renames:
        walk(spec)


def _bound_path_param(param: dict) -> None:
    if param["name"] == "session_id":
        param["schema"] = {"type": "string", "pattern": SESSION_ID.pattern,
                           "minLength": 1, "maxLength": 64}
        param.setdefault("description", "Session id")
    else:
        from ..guards import PATH_PARAM_MAX

        schema = param.setdefault("schema", {"type": "string"})
        if schema.get("type") == "string":
            schema.setdefault("minLength", 1)
            schema.setdefault("maxLength", PATH_PARAM_MAX)
            schema.setdefault("pattern", r"^[^\x00-\x1f\x7f/]+$")


def assets_blueprint(folder: Path = SWAGGER_UI_DIR) -> Blueprint:
    """Swagger UI's files from node_modules (a plain Blueprint: not part of the API spec)."""
    bp = Blueprint("docs_assets", __name__)

    @bp.get(f"{ASSETS_PATH}/<name>")
    def docs_asset(name):
        if name not in SWAGGER_UI_ASSETS:
            abort(404)
        return send_from_directory(folder, name, max_age=86400)

    return bp


def init_app(app) -> None:
    """Describe the API (envelope, security) and serve /docs from local files."""
    app.config.update(
        HTTP_ERROR_SCHEMA=Error,
        VALIDATION_ERROR_SCHEMA=Error,
        SECURITY_SCHEMES={
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerAuth": {"type": "http", "scheme": "bearer"},
        },
        DESCRIPTION=(
            "Multi-session WhatsApp Web gateway. Every route but `GET /health` needs an API "
            "key in `X-API-Key` or `Authorization: Bearer`. Errors are "
            "`{\"error\": {\"code\", \"message\", \"details\"}}`. Unknown body fields are "
            "rejected (422); unknown query parameters are ignored."),
        SWAGGER_UI_CSS=f"{ASSETS_PATH}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{ASSETS_PATH}/favicon-32x32.png",
        # Swagger UI would send the spec to validator.swagger.io for a badge: not on a LAN.
        SWAGGER_UI_CONFIG={"validatorUrl": None, "persistAuthorization": False},
    )
    if not (SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file():
        app.logger.warning("%s is missing: run `npm ci` for a working /docs page", SWAGGER_UI_DIR)
    app.register_blueprint(assets_blueprint())
    app.spec_processor(lambda spec: complete_spec(spec, app.config))
