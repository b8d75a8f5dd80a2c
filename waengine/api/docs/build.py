"""Building the document: what every route shares, added once; offline /docs."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

from ...config import assets_dir
from ...vocabulary import SESSION_ID
from .errors import ERRORS, Error

SWAGGER_UI_DIR = assets_dir() / "swagger-ui-dist"
# The files /docs needs, served from the npm package (`npm ci`): no CDN, works on a closed LAN.
SWAGGER_UI_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                     "favicon-32x32.png")
ASSETS_PATH = "/docs/assets"
REQUEST_ID_HEADER = {"X-Request-ID": {
    "schema": {"type": "string"},
    "description": "the request's X-Request-ID if it was 1-128 of A-Z a-z 0-9 ._:/+=@- , else a "
                   "generated one; every log line of the request carries it"}}
# The groups of the document, in the order and with the names of the user docs (docs/api.md,
# docs/webhooks.md): generated SDKs make one class per tag.
TAGS = [
    {"name": "Sessions", "description": "Create, link (QR or pairing code), inspect, stop"},
    {"name": "Messages", "description": "Send texts, files, locations, reactions; follow a send"},
    {"name": "Chats", "description": "The chat list, a chat's messages, read receipts"},
    {"name": "Contacts and groups", "description": "Contacts, numbers on WhatsApp, groups"},
    {"name": "Webhooks and events", "description": "Signed webhooks, deliveries, the SSE stream"},
    {"name": "Channels", "description": "WhatsApp channels (newsletters) and status posts"},
    {"name": "Monitoring", "description": "Health, performance, Prometheus metrics"},
]


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
    from ...auth import open_route

    _merge_duplicate_schemas(spec)
    _cross_field_rules(spec)
    ref = {"$ref": "#/components/schemas/Error"}
    spec["security"] = [{"ApiKeyAuth": []}, {"BearerAuth": []}]
    # Not the TAGS setting: with it apiflask stops tagging operations by their blueprint.
    spec["tags"] = TAGS
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = {500}
            if open_route(path, config):
                op["security"] = []
            else:
                # 429: RATE_LIMIT per key and AUTH_FAIL_LIMIT per address (ratelimit.py).
                codes |= {401, 403, 429}
            if method != "get":
                codes |= {400, 413}
            if "requestBody" in op:
                codes |= {415, 422}
                op["requestBody"]["required"] = True  # no route takes an empty body
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
                response["headers"] = {**response.get("headers", {}), **REQUEST_ID_HEADER}
            for param in params:
                if param.get("in") == "path":
                    _bound_path_param(param, path)
    return spec


def _cross_field_rules(spec: dict) -> None:
    from ..schemas import CROSS_FIELD_RULES

    schemas = spec.get("components", {}).get("schemas", {})
    for name, rule in CROSS_FIELD_RULES.items():
        if name in schemas:
            schemas[name].update(rule)


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


def _id_pattern(name: str, path: str) -> str | None:
    """The pattern the view checks this path parameter against (schemas.py), if any."""
    from .. import schemas

    if name == "chatId":
        return rf"^ *(?:{schemas.WA_ID}|{schemas.PHONE}) *$"
    if name in ("contactId", "phone"):
        return rf"^ *(?:{schemas.PERSON_ID}|{schemas.PHONE}) *$"
    if name in ("groupId", "communityId"):
        return schemas.GROUP_ID_PATTERN
    if name == "channelId":
        return schemas.CHANNEL_ID_PATTERN
    if name == "statusId":
        return schemas.STATUS_ID_PATTERN
    if name == "messageId" and path.endswith("/reaction"):
        return schemas.MESSAGE_KEY_PATTERN
    return None


def _bound_path_param(param: dict, path: str) -> None:
    if param["name"] == "session_id":
        param["schema"] = {"type": "string", "pattern": SESSION_ID.pattern,
                           "minLength": 1, "maxLength": 64}
        param.setdefault("description", "Session id")
    else:
        from ...request_checks import PATH_PARAM_MAX

        schema = param.setdefault("schema", {"type": "string"})
        if schema.get("type") == "string":
            schema.setdefault("minLength", 1)
            schema.setdefault("maxLength", PATH_PARAM_MAX)
            schema.setdefault("pattern", _id_pattern(param["name"], path)
                              or r"^[^\x00-\x1f\x7f/]+$")


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
