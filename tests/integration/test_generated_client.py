"""A Python client generated from the live /openapi.json by openapi-python-client drives a
sandbox-backed gateway: a spec change that breaks generated clients fails here.

The generated code goes to a tmp folder and is imported from there (never committed).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading

import pytest
import requests
from werkzeug.serving import make_server

from ..conftest import phones, wait_for

number = phones(__name__)

KEY = "sdk-test-key-0123456789abcdef"
ALICE, BUDI = number(21), number(22)
PACKAGE = "waengine_sdk_under_test"


@pytest.fixture
def live(make_gateway):
    """The gateway behind a real HTTP server (threaded werkzeug), as a generated client needs."""
    gateway = make_gateway(API_KEYS=[KEY])
    server = make_server("127.0.0.1", 0, gateway.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="sdk-gateway", daemon=True)
    thread.start()
    yield gateway, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def sdk(live, tmp_path):
    """Generate the client from the served document, offline, and import it."""
    _, url = live
    spec = tmp_path / "openapi.json"
    spec.write_bytes(requests.get(url + "/openapi.json", timeout=10,
                                  headers={"X-API-Key": KEY}).content)
    config = tmp_path / "generator.yml"
    config.write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    out = tmp_path / "client" / PACKAGE
    done = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate",
                           "--path", str(spec), "--meta", "none", "--output-path", str(out),
                           "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Warning" not in done.stdout + done.stderr, (
        done.stdout + done.stderr)
    sys.path.insert(0, str(out.parent))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_links_a_session_sends_and_reads(live, sdk, sandbox):
    _, url = live
    models = sdk("models")
    create_session, get_session, get_qr = (sdk(f"api.sessions.{name}") for name in
                                           ("create_session", "get_session", "get_qr"))
    send_text, get_send_status, list_stored = (sdk(f"api.messages.{name}") for name in
                                               ("send_text", "get_send_status",
                                                "list_stored_messages"))
    list_contacts = sdk("api.contacts_and_groups.list_contacts")
    client = sdk("client").AuthenticatedClient(base_url=url, token=KEY,
                                               raise_on_unexpected_status=True)
    created = create_session.sync_detailed(client=client,
                                                    body=models.SessionCreateIn(id="sdk"))
    assert created.status_code == 201 and isinstance(created.parsed, models.Session)

    # A second create is a typed 409, not an exception or a dict.
    again = create_session.sync_detailed(client=client,
                                                  body=models.SessionCreateIn(id="sdk"))
    assert again.status_code == 409 and isinstance(again.parsed, models.Error)
    assert again.parsed.error.code == "session_exists"

    sandbox.phone(BUDI, "Budi")
    sandbox.phone(ALICE, "Alice", contacts=[{"phone": BUDI, "name": "Budi Kantor"}])
    wait_for(lambda: get_session.sync(session_id="sdk", client=client).status
             == models.SessionStatus.SCAN_QR, timeout=60, message="SCAN_QR")
    assert isinstance(get_qr.sync(session_id="sdk", client=client), models.QrCode)
    sandbox.scan(lambda: getattr(get_qr.sync(session_id="sdk", client=client), "qr", None), ALICE)
    wait_for(lambda: get_session.sync(session_id="sdk", client=client).status
             == models.SessionStatus.CONNECTED, timeout=60, message="CONNECTED")

    sent = send_text.sync_detailed(session_id="sdk", client=client,
                                            body=models.TextMessageIn(to=BUDI, text="dari SDK"))
    assert sent.status_code in (201, 202), sent.content
    queue_id = sent.parsed.queue_id if sent.status_code == 201 else sent.parsed.id
    status = wait_for(lambda: (s := get_send_status.sync(
        session_id="sdk", message_id=queue_id, client=client)).status == models.QueuedStatus.SENT
        and s, timeout=30, message="the send's status: sent")
    assert status.message.body == "dari SDK" and status.message.to == f"{BUDI}@c.us"

    # the stored history finds it by a word, typed, with a cursor for the next page
    stored = wait_for(lambda: list_stored.sync(session_id="sdk", client=client, q="sdk").data,
                      message="the send in the stored history")
    assert isinstance(stored[0], models.StoredMessage) and stored[0].body == "dari SDK"
    assert stored[0].cursor.startswith("c")

    found = list_contacts.sync(session_id="sdk", client=client)
    assert isinstance(found, models.ContactList)
    assert [c.name for c in found.data if c.id == f"{BUDI}@c.us"] == ["Budi Kantor"]

    # one call per area of channels, status posts and communities
    create_channel, post_status = (sdk(f"api.channels.{name}") for name in
                                   ("create_channel", "post_status"))
    create_community = sdk("api.contacts_and_groups.create_community")
    channel = create_channel.sync_detailed(session_id="sdk", client=client,
                                           body=models.ChannelCreateIn(name="Kanal SDK"))
    assert channel.status_code == 201 and isinstance(channel.parsed, models.Channel)
    assert channel.parsed.id.endswith("@newsletter") and channel.parsed.role == "owner"
    # a body of oneOf alternatives is typed Any in the generated client: a plain dict
    status_post = post_status.sync_detailed(session_id="sdk", client=client, body={
        "text": "Status SDK", "backgroundColor": "#0275D8", "font": 1})
    assert status_post.status_code == 201 and isinstance(status_post.parsed, models.Status)
    assert status_post.parsed.background_color == "#0275D8"
    community = create_community.sync_detailed(session_id="sdk", client=client,
                                               body=models.CommunityCreateIn(name="Komunitas SDK"))
    assert community.status_code == 201 and isinstance(community.parsed, models.Community)
    assert community.parsed.announcement_group

    refused = send_text.sync_detailed(session_id="sdk", client=client,
                                               body=models.TextMessageIn(to="no phone", text="x"))
    assert refused.status_code == 422 and isinstance(refused.parsed, models.Error)
    assert refused.parsed.error.code == "validation_error"
