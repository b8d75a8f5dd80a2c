"""The OpenAPI document describes the running API (routes, bodies, errors, auth); /docs is
offline."""

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from ..conftest import wait_for

KEY = "docs-test-key-0123456789abcdef"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def app(make_app):
    return make_app(API_KEYS=[KEY])


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = KEY
    return client


@pytest.fixture
def spec(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.json


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def validator(spec, name):
    """A JSON Schema validator for components/schemas/<name>, refs resolved in the document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                 "components": spec["components"]})


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)


def test_every_route_of_the_app_is_documented(app, spec):
    for rule in app.url_map.iter_rules():
        # cluster: between nodes only, signed with CLUSTER_SECRET (waengine/api/cluster.py)
        if rule.endpoint.split(".")[0] in ("static", "openapi", "docs_assets", "dashboard",
                                           "cluster"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], (method, rule.rule)


def test_every_operation_has_a_summary_and_a_success_schema(spec):
    for path, method, op in operations(spec):
        assert op.get("summary"), (method, path)
        if "101" in op["responses"]:  # a WebSocket: frames follow the 101, no response body
            assert path.endswith("/ws"), path
            continue
        ok = [r for code, r in op["responses"].items() if code.startswith("2")]
        assert ok, (method, path)  # sends have two: 201 sent, 202 still queued by the pacer
        for response in ok:
            content = response.get("content") or {}
            assert content, (method, path)
            assert any(media.get("schema") for media in content.values()), (method, path)


def test_every_error_response_is_the_envelope(spec):
    for path, method, op in operations(spec):
        errors = {code: r for code, r in op["responses"].items() if code[0] in "45"}
        assert "500" in errors, (method, path)
        for code, response in errors.items():
            schema = response["content"]["application/json"]["schema"]
            if (path, code) == ("/health", "503"):  # docs/operations.md: load balancers read `status`
                assert schema == {"$ref": "#/components/schemas/Health"}
                continue
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)


def test_the_error_schema_is_the_api_md_envelope(spec):
    check = validator(spec, "Error")
    assert check.is_valid({"error": {"code": "not_found", "message": "m", "details": {}}})
    assert not check.is_valid({"detail": {}, "message": "apiflask's default"})
    assert not check.is_valid({"error": {"code": "x", "message": "m"}})
    assert not check.is_valid({"error": {"code": "x", "message": "m", "details": {}}, "extra": 1})


def test_auth_is_an_api_key_header_or_a_bearer_token_everywhere_but_health(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["BearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"ApiKeyAuth": []}, {"BearerAuth": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert "401" not in spec["paths"]["/health"]["get"]["responses"]
    for path, method, op in operations(spec):
        if path in ("/health",):
            continue
        assert op.get("security") != [], (method, path)
        unauthorized = op["responses"]["401"]
        assert "WWW-Authenticate" in unauthorized["headers"], (method, path)
        assert "403" in op["responses"], (method, path)


def test_the_metrics_switch_shows_in_the_document(make_app):
    client = make_app(API_KEYS=[KEY], METRICS_AUTH=False).test_client()
    spec = client.get("/openapi.json").json
    assert spec["paths"]["/metrics"]["get"]["security"] == []


def test_session_ids_in_paths_carry_their_pattern(spec):
    seen = 0
    for _path, _method, op in operations(spec):
        for param in op.get("parameters", []):
            if param["in"] == "path":
                assert param["required"] is True
                schema = param["schema"]
                assert schema["maxLength"] <= 256 and schema["minLength"] == 1
                if param["name"] == "session_id":
                    assert schema["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
                    seen += 1
    assert seen >= 10


def test_request_bodies_reject_unknown_fields_in_the_document_too(spec):
    schemas = spec["components"]["schemas"]
    for path, method, op in operations(spec):
        for media, body in op.get("requestBody", {}).get("content", {}).items():
            ref = body["schema"].get("$ref")
            if ref:
                assert schemas[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, (
                    method, path, media)


def test_body_routes_document_malformed_and_oversized_bodies(spec):
    for path, method, op in operations(spec):
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= set(op["responses"]), (method, path)


def test_no_schema_is_registered_twice(spec):
    names = set(spec["components"]["schemas"])
    assert not [n for n in names if n[-1].isdigit() and n.rstrip("0123456789") in names]


def test_real_errors_match_the_documented_envelope(client, spec):
    check = validator(spec, "Error")
    for resp in (client.get("/sessions/ghost"), client.get("/sessions/a%00"),
                 client.post("/sessions", data="{", content_type="application/json"),
                 client.post("/sessions", data="x", content_type="text/plain"),
                 client.post("/sessions", json={"id": 1}), client.get("/nope"),
                 client.delete("/sessions"), client.get("/sessions", headers={"X-API-Key": "no"})):
        assert resp.status_code >= 400
        errors = list(check.iter_errors(resp.json))
        assert not errors, (resp.status_code, resp.json, errors)


def test_real_sessions_match_the_documented_session_schema(client, spec, factory):
    created = client.post("/sessions", json={"id": "s1"})
    assert created.status_code == 201
    check = validator(spec, "Session")
    assert not list(check.iter_errors(created.json))
    wait_for(lambda: client.get("/sessions/s1").json["browser"], message="browser up")
    for body in (client.get("/sessions/s1").json, *client.get("/sessions").json["data"],
                 client.delete("/sessions/s1").json):
        assert not list(check.iter_errors(body)), body
    assert not list(validator(spec, "SessionList").iter_errors(client.get("/sessions").json))


# ---- /docs ----
def test_the_docs_page_loads_nothing_from_another_host(client):
    resp = client.get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html) + re.findall(r'url:\s*"([^"]*)"', html)
    assert len(refs) >= 4, refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        assert client.get(ref).status_code == 200, ref
    assert '"validatorUrl": null' in html  # no badge from validator.swagger.io
    assert "cdn." not in html and "jsdelivr" not in html and "unpkg" not in html


def test_docs_assets_are_the_pinned_swagger_ui_files_and_nothing_else(client):
    css = client.get("/docs/assets/swagger-ui.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.mimetype
    assert "max-age" in js.headers["Cache-Control"]
    for path in ("/docs/assets/package.json", "/docs/assets/..%2Fpackage.json",
                 "/docs/assets/../../package.json", "/docs/assets/%2e%2e/package.json",
                 "/docs/assets/index.html"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.json["error"]["code"] == "not_found"
