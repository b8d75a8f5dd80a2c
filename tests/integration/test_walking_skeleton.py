"""One WhatsApp session end to end: HTTP, real Chromium through Selenium, and the sandbox."""

from ..conftest import phones, wait_for
from .conftest import browser_processes

number = phones(__name__)

ALICE, BUDI, CITRA = number(1), number(2), number(3)


def test_create_scan_send_and_the_phone_receives_it(gateway, sandbox):
    sandbox.phone(BUDI, "Budi")
    created = gateway.client.post("/sessions", json={"id": "sales"})
    assert created.status_code == 201 and created.json["status"] == "STARTING"
    connected = gateway.link(sandbox, "sales", ALICE)
    assert connected["me"]["id"] == f"{ALICE}@c.us"
    sent = gateway.client.post("/sessions/sales/messages",
                               json={"to": f"+{BUDI[:2]} {BUDI[2:5]}-{BUDI[5:]}", "text": "Halo Budi"})
    assert sent.status_code == 201, sent.json
    assert sent.json["fromMe"] is True and sent.json["to"] == f"{BUDI}@c.us"
    assert sent.json["ack"] in ("sent", "delivered", "read")
    inbox = wait_for(lambda: sandbox.inbox(BUDI), message="message at Budi's phone")
    assert inbox[-1]["text"] == "Halo Budi" and inbox[-1]["from"] == ALICE


def test_a_number_not_on_whatsapp_is_422(gateway, sandbox):
    gateway.link(sandbox, "s422", ALICE)
    resp = gateway.client.post("/sessions/s422/messages", json={"to": "6289999999999", "text": "x"})
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "recipient_not_on_whatsapp"


def test_the_qr_rotates(gateway, sandbox):
    gateway.client.post("/sessions", json={"id": "rot"})
    gateway.wait_status("rot", "SCAN_QR")
    first = gateway.client.get("/sessions/rot/qr").json["qr"]
    second = wait_for(lambda: (q := gateway.client.get("/sessions/rot/qr").json.get("qr")) != first
                      and q, timeout=20, message="a new QR")
    assert len(second.split(",")) == 4


def test_a_second_session_receives_what_the_first_sends(gateway, sandbox):
    received = []
    gateway.engine.manager.on_event = lambda s, t, d: received.append((s.id, t, d))
    gateway.link(sandbox, "one", ALICE)
    gateway.link(sandbox, "two", CITRA)
    resp = gateway.client.post("/sessions/one/messages", json={"to": CITRA, "text": "to two"})
    assert resp.status_code == 201, resp.json
    message = wait_for(lambda: [d for sid, t, d in received if sid == "two" and t == "message"],
                       message="message event at session two")[0]
    assert message["body"] == "to two" and message["from"] == f"{ALICE}@c.us"
    assert message["fromMe"] is False


def test_logout_from_the_phone_returns_to_scan_qr(gateway, sandbox):
    gateway.link(sandbox, "lo", ALICE)
    sandbox.post(f"/_sandbox/phones/{ALICE}/unlink")
    back = gateway.wait_status("lo", "SCAN_QR")
    assert back["statusReason"] == "logged_out"
    assert gateway.client.get("/sessions/lo/qr").json["qr"]


def test_logout_through_the_api_gives_a_new_qr(gateway, sandbox):
    gateway.link(sandbox, "lo2", ALICE)
    resp = gateway.client.post("/sessions/lo2/logout")
    assert resp.status_code == 200
    gateway.wait_status("lo2", "SCAN_QR")


def test_purge_leaves_no_browser_and_no_profile(gateway, sandbox, tmp_path):
    gateway.link(sandbox, "gone", ALICE)
    profile = gateway.engine.profiles / "gone"
    assert profile.is_dir() and browser_processes(profile)
    resp = gateway.client.delete("/sessions/gone?purge=true")
    assert resp.status_code == 200 and resp.json["status"] == "STOPPED"
    assert not browser_processes(tmp_path)
    assert not profile.exists()
    assert gateway.client.get("/sessions/gone").status_code == 404


def test_a_restarted_engine_brings_the_session_back_without_a_scan(make_gateway, sandbox, tmp_path):
    first = make_gateway()
    first.link(sandbox, "keep", ALICE)
    first.engine.close()
    assert not browser_processes(tmp_path)
    second = make_gateway()
    back = second.wait_status("keep", "CONNECTED", "SCAN_QR")
    assert back["status"] == "CONNECTED", back
    assert back["me"]["id"] == f"{ALICE}@c.us"


def test_link_with_a_pairing_code_instead_of_the_qr(gateway, sandbox):
    gateway.client.post("/sessions", json={"id": "pair"})
    gateway.wait_status("pair", "SCAN_QR")
    resp = gateway.client.post("/sessions/pair/pairing-code", json={"phone": f"+{ALICE}"})
    assert resp.status_code == 200, resp.json
    code = resp.json["code"]
    assert len(code) == 9 and code[4] == "-"
    sandbox.post("/_sandbox/link", code=code, phone=ALICE)
    connected = gateway.wait_status("pair", "CONNECTED")
    assert connected["me"]["id"] == f"{ALICE}@c.us"
    again = gateway.client.post("/sessions/pair/pairing-code", json={"phone": ALICE})
    assert again.status_code == 409
