"""The dashboard as an operator uses it: real Chromium (Selenium) on a real HTTP gateway + sandbox.

One gateway, one sandbox and one dashboard browser serve the module (each test leaves the state
the next one expects: sign in, link, send, stop/start, webhooks, scoped key). Set
WAENGINE_SCREENSHOTS=docs/img to save the screenshots the docs show (tests/integration/operator.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from werkzeug.serving import make_server

from waengine import create_app, engine_of
from waengine.sandbox import make_server as make_sandbox

from ..conftest import phones, typed, wait_for
from ..receiver import Receiver
from .conftest import assert_no_browsers
from .operator import PHONE, Operator

number = phones(__name__)

# The tests are the steps of one operator's session, each leaving the state the next expects:
# make test-random shuffles the modules but keeps this one's order.
pytestmark = [pytest.mark.browser, pytest.mark.random_order(disabled=True)]

ADMIN = "admin-key-0123456789abcdefghij"
SCOPED = "acme-key-0123456789abcdefghijk"
OWNER, BUDI = number(1), number(2)


class Stack(Operator):
    """Sandbox, gateway over real HTTP, webhook receiver and the operator's browser."""

    def __init__(self, root: Path):
        self.root = root
        # Slower QR rotation than the shared sandbox: a person (and this test) has time to look.
        self.sandbox_server = make_sandbox("127.0.0.1", 0, qr_first_ttl=8.0, qr_ttl=5.0,
                                           qr_max=40)
        self.sandbox = f"http://127.0.0.1:{self.sandbox_server.server_port}"
        threading.Thread(target=self.sandbox_server.serve_forever, name="sandbox",
                         daemon=True).start()
        self.app = create_app({"ENV": "testing", "DATA_DIR": str(root / "data"),
                               "WA_URL": self.sandbox + "/", "QR_FIRST_TTL": 8.0,
                               "QR_TTL": 5.0, "QR_SCAN_TIMEOUT": 30.0,
                               "API_KEYS": [ADMIN, f"{SCOPED}:acme-*"],
                               # One stream per tab, but a reloaded tab's old stream stays open
                               # until its next keep-alive, and the tests reload often: half of
                               # testing's 8 THREADS, the most SSE_MAX_STREAMS may be.
                               "SSE_MAX_STREAMS": 4})
        self.engine = engine_of(self.app)
        self.engine.start()
        self.http = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, name="gateway-http", daemon=True).start()
        self.receiver = Receiver()
        super().__init__(self.url, root)

    def close(self) -> None:
        self.quit()
        self.http.shutdown()
        self.engine.close()
        self.receiver.close()
        self.sandbox_server.shutdown()

    # ---- REST, as a script next to the operator would ----
    def api(self, method: str, path: str, key: str = ADMIN, **kw):
        return requests.request(method, self.url + path, headers={"X-API-Key": key},
                                timeout=30, **kw)

    def sandbox_post(self, path: str, **body) -> dict:
        resp = requests.post(self.sandbox + path, json=body, timeout=10)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def inbox(self, phone: str) -> list[dict]:
        return requests.get(self.sandbox + "/_sandbox/messages", params={"to": phone},
                            timeout=10).json()["data"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    made = Stack(root)
    yield made
    made.close()
    assert_no_browsers(root)


def test_a_wrong_key_shows_an_error_and_a_right_key_signs_in(stack):
    stack.driver.get(stack.url + "/dashboard")
    wait_for(lambda: stack.shown("#login"), message="login form")
    stack.shot("login")
    stack.type("#login-key", "not-a-key")
    stack.click("#login-form button[type=submit]")
    stack.wait_text("#login-error", "not valid")
    assert not stack.shown("#view-sessions")
    assert stack.driver.execute_script("return sessionStorage.length") == 0

    stack.type("#login-key", ADMIN)
    stack.find("#login-key").send_keys(Keys.ENTER)
    wait_for(lambda: stack.shown("#view-sessions"), message="sessions view")
    assert stack.driver.execute_script("return sessionStorage.getItem('waengine.apiKey')") == ADMIN
    assert stack.driver.get_cookies() == []  # the key lives in the tab, not in a cookie
    stack.wait_text("#live", "live")


def test_an_operator_links_a_phone_by_qr_and_sends_a_first_message(stack):
    stack.sandbox_post("/_sandbox/phones", phone=OWNER, name="Sales Phone")
    stack.sandbox_post("/_sandbox/phones", phone=BUDI, name="Budi")
    stack.driver.execute_script("window.__sameDocument = true")  # gone if the page reloads
    stack.click("#new-session")
    stack.type("#create-id", "sales")
    stack.click("#create-form button[type=submit]")

    wait_for(lambda: stack.shown("#qr-img"), timeout=60, message="QR shown")
    first = stack.find("#qr-img").get_attribute("data-expires-at")
    stack.wait_text("#qr-countdown", "Expires in")
    stack.wait_text("#facts", "processes")  # the browser's PSS, from the watchdog
    stack.shot("link-qr")
    stack.shot("link-qr-phone", PHONE)
    # The sandbox rotates the QR; the page shows the new one without being asked.
    wait_for(lambda: stack.find("#qr-img").get_attribute("data-expires-at") != first,
             timeout=20, message="QR rotated in the page")

    def scan():  # the QR may rotate between reading and scanning: scan the current one
        qr = stack.api("GET", "/sessions/sales/qr").json().get("qr")
        return qr and requests.post(stack.sandbox + "/_sandbox/link",
                                    json={"qr": qr, "phone": OWNER}, timeout=10).ok
    wait_for(scan, timeout=20, message="phone scanned the QR")
    stack.wait_text("#detail-status", "CONNECTED", timeout=60)
    stack.wait_text("#detail-notice", "CONNECTED")
    assert stack.driver.execute_script("return window.__sameDocument") is True

    stack.type("#send-to", typed(BUDI))
    stack.type("#send-text", "Halo Budi, from the dashboard")
    stack.click("#send-form button[type=submit]")
    stack.wait_text("#send-result", "Sent to")
    wait_for(lambda: any(m.get("text") == "Halo Budi, from the dashboard"
                         for m in stack.inbox(BUDI)), message="Budi's inbox")
    stack.sandbox_post("/_sandbox/messages", **{"from": BUDI, "to": OWNER, "text": "Terima kasih!"})
    stack.wait_text("#event-log", "Terima kasih!")
    activity = wait_for(lambda: (a := stack.api("GET", "/sessions/sales").json()["activity"])
                        ["sentToday"] == 1 and a["receivedToday"] == 1 and a, message="counted")
    assert activity["queued"] == 0 and activity["lastEventAt"]
    stack.wait_text("#facts", "1 sent · 1 received")
    stack.shot("session")

    stack.click("a.back")
    wait_for(lambda: "CONNECTED" in stack.row("sales") and f"+{OWNER}" in stack.row("sales"),
             message="row CONNECTED with the number")
    assert stack.driver.execute_script("return window.__sameDocument") is True


def test_a_pairing_code_links_while_the_operator_watches_the_table(stack):
    stack.api("POST", "/sessions", json={"id": "support"})
    wait_for(lambda: "SCAN QR" in stack.row("support"), timeout=60, message="support in the table")
    stack.click('#sessions-body tr[data-id="support"] a')
    wait_for(lambda: stack.shown("#qr-img"), timeout=30, message="support's QR")
    stack.click("#pairing summary")
    stack.type("#pairing-phone", typed(number(3)))
    stack.click("#pairing-form button[type=submit]")
    wait_for(lambda: stack.shown("#pairing-code"), message="pairing code shown")
    code = stack.text("#pairing-code")
    assert len(code) == 9 and code[4] == "-", code
    stack.shot("link-pairing")

    stack.click("a.back")
    wait_for(lambda: stack.shown("#view-sessions"), message="back at the table")
    stack.driver.execute_script("window.__sameDocument = true")
    dashboard = stack.driver.current_window_handle
    # The sandbox's phone page, in another tab: the operator types the code on "the phone".
    stack.driver.switch_to.new_window("tab")
    stack.driver.get(stack.sandbox + "/_sandbox/phone")
    stack.type("#link-phone", number(3))
    stack.type("#link-name", "Support Phone")
    stack.type("#link-code", code)
    stack.click("#link-form button[type=submit]")
    stack.wait_text("#link-out", "Linked")
    stack.type("#send-from", BUDI)
    stack.type("#send-to", number(3))
    stack.type("#send-text", "Halo support")
    stack.click("#send-form button[type=submit]")
    stack.wait_text("#send-out", "Sent")
    stack.type("#inbox-phone", BUDI)
    stack.wait_text("#inbox", "Halo Budi, from the dashboard")  # test 2's message
    stack.driver.close()
    stack.driver.switch_to.window(dashboard)
    wait_for(lambda: "CONNECTED" in (r := stack.row("support")) and f"+{number(3)}" in r,
             timeout=60, message="row CONNECTED with the number")
    wait_for(lambda: stack.api("GET", "/sessions/support").json()["activity"]["receivedToday"],
             message="support received Budi's message")
    assert stack.driver.execute_script("return window.__sameDocument") is True
    stack.type("#filter", "support")
    wait_for(lambda: not stack.row("sales") and stack.row("support"), message="filtered")
    stack.find("#filter").clear()
    stack.find("#filter").send_keys(Keys.BACKSPACE)
    wait_for(lambda: stack.row("sales"), message="filter cleared")


def test_stop_and_start_from_the_session_page(stack):
    stack.driver.get(stack.url + "/dashboard#session/sales")
    stack.wait_text("#detail-status", "CONNECTED")
    assert not stack.shown("#move-form")  # a single box: nowhere to move it to
    stack.click('[data-action="stop"]')
    stack.wait_text("#detail-status", "STOPPED")
    assert stack.api("GET", "/sessions/sales").json()["status"] == "STOPPED"
    stack.click('[data-action="start"]')
    stack.wait_text("#detail-status", "CONNECTED", timeout=60)  # the stored login: no QR


def test_a_reach_out_timelock_shows_in_the_table_and_on_the_session_page_until_it_ends(stack):
    stranger = number(7)
    stack.sandbox_post("/_sandbox/phones", phone=stranger, name="Stranger")
    # WhatsApp's timelock on the account, ending in a few seconds (whole seconds, as it says)
    stack.sandbox_post(f"/_sandbox/phones/{OWNER}/reach-out", until=int(time.time()) + 15)
    held = stack.api("POST", "/sessions/sales/messages", json={"to": stranger, "text": "promo"})
    assert held.status_code == 202 and held.json()["status"] == "held", held.text
    stack.driver.get(stack.url + "/dashboard#session/sales")
    stack.wait_text("#facts", "new contacts held until")
    stack.click("a.back")
    wait_for(lambda: "RESTRICTED" in (r := stack.row("sales")) and "held until" in r,
             message="the table row shows the restriction")
    stack.shot("restricted")
    wait_for(lambda: any(m.get("text") == "promo" for m in stack.inbox(stranger)), timeout=60,
             message="the held send, after the timelock")
    wait_for(lambda: "RESTRICTED" not in stack.row("sales"), timeout=30,
             message="the row without the restriction")


def test_a_failed_webhook_delivery_is_shown_with_its_answer_and_retried(stack):
    receiver = stack.receiver
    stack.driver.get(stack.url + "/dashboard#session/sales")
    stack.wait_text("#detail-status", "CONNECTED")
    stack.type("#webhook-url", receiver.url)
    stack.click('#webhook-events input[value="message"]')
    stack.click("#webhook-new-secret")
    stack.click("#webhook-form button[type=submit]")
    wait_for(lambda: stack.shown("#secret-once"), message="secret shown once")
    secret = stack.find("#secret-value").get_attribute("value")
    assert len(secret) == 48
    hook = stack.api("GET", "/sessions/sales/webhook").json()
    assert hook == {"url": receiver.url, "events": ["message"], "hasSecret": True}

    receiver.statuses = [410]  # gone: not worth retrying, so dead at once
    stack.sandbox_post("/_sandbox/messages", **{"from": BUDI, "to": OWNER, "text": "are you there?"})
    wait_for(lambda: stack.api("GET", "/sessions/sales/webhook/deliveries?status=failed")
             .json()["data"], timeout=30, message="a dead delivery")
    stack.click('#nav a[data-view="deliveries"]')
    stack.wait_text("#deliveries-body", "HTTP 410")
    assert "dead" in stack.text("#deliveries-body")
    stack.shot("deliveries")

    stack.click("#deliveries-body button.retry")
    wait_for(lambda: receiver.delivered(), timeout=30, message="delivered after the retry")
    wait_for(lambda: stack.shown("#deliveries-empty"), message="no failed delivery left")
    request = next(r for r in receiver.requests if r["status"] == 200)
    headers = {k.lower(): v for k, v in request["headers"].items()}
    signed = headers["x-waengine-timestamp"].encode() + b"." + request["body"]
    assert headers["x-waengine-signature"] == (
        "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
    assert json.loads(request["body"])["data"]["body"] == "are you there?"


def test_the_session_page_lists_its_sinks_masked_and_a_failing_one_shows_in_deliveries(
        stack, refused_port):
    url = f"redis://:hunter2@127.0.0.1:{refused_port}/0"  # not there: its publishes are retried
    put = stack.api("PUT", "/sessions/sales/sinks", json={"sinks": [{"url": url,
                                                                      "events": ["message"]}]})
    assert put.status_code == 200, put.text
    shown = url.replace("hunter2", "***")
    stack.driver.get(stack.url + "/dashboard#session/sales")
    stack.wait_text("#sinks-list", shown)
    assert "this session" in stack.text("#sinks-list") and "message" in stack.text("#sinks-list")
    stack.sandbox_post("/_sandbox/messages", **{"from": BUDI, "to": OWNER, "text": "to the sink"})
    stack.click('#nav a[data-view="deliveries"]')
    wait_for(lambda: (stack.click("#deliveries-refresh"), shown in stack.text(
        "#deliveries-body"))[1], timeout=30, message="the sink's delivery, retrying")
    assert "retrying" in stack.text("#deliveries-body")
    assert "hunter2" not in stack.driver.page_source
    assert stack.api("PUT", "/sessions/sales/sinks", json={"sinks": []}).status_code == 200


def test_the_gateway_view_shows_memory_capacity_and_the_last_hour(stack):
    stack.click('#nav a[data-view="gateway"]')
    stack.wait_text("#gateway-figures", "More sessions fit")
    wait_for(lambda: stack.driver.find_elements(By.CSS_SELECTOR, "#chart polyline"),
             timeout=30, message="the chart")
    figures = stack.text("#gateway-figures")
    assert "Browsers" in figures and " MB" in figures
    history = stack.api("GET", "/performance/history").json()["data"]
    assert history[-1]["activeSessions"] == 2 and history[-1]["browsersMb"] > 0
    stack.shot("gateway")
    stack.click('#nav a[data-view="sessions"]')
    wait_for(lambda: "MB" in stack.row("sales"), message="memory in the row")
    # a single box (one node, no NODE_URL): nothing of nodes, no Move
    assert stack.api("GET", "/nodes").json()["data"][0]["url"] is None
    assert not stack.shown('#nav a[data-view="nodes"]')
    assert not stack.shown('#sessions-table th[data-sort="node"]')
    assert not stack.shown('#sessions-body tr[data-id="sales"] td.node')
    stack.shot("sessions")
    stack.shot("sessions-phone", PHONE)


def test_delete_with_purge_asks_first_then_forgets_the_session(stack):
    stack.driver.get(stack.url + "/dashboard#session/support")
    stack.wait_text("#detail-status", "CONNECTED")
    stack.click('[data-action="delete"]')
    wait_for(lambda: stack.shown("#delete-dialog"), message="confirmation")
    stack.click("#delete-cancel")  # changed my mind: nothing happens
    assert stack.api("GET", "/sessions/support").json()["status"] == "CONNECTED"
    stack.click('[data-action="delete"]')
    stack.click("#delete-purge")
    stack.click("#delete-form button[type=submit]")
    wait_for(lambda: stack.shown("#view-sessions") and not stack.row("support"),
             timeout=30, message="back at the table without support")
    assert stack.api("GET", "/sessions/support").status_code == 404
    assert stack.row("sales")


def test_an_expired_qr_offers_a_new_one(stack):
    stack.api("POST", "/sessions", json={"id": "late"})
    stack.driver.get(stack.url + "/dashboard#session/late")
    wait_for(lambda: stack.shown("#qr-img"), timeout=60, message="late's QR")
    # Nobody scans: after QR_SCAN_TIMEOUT the gateway gives up, and the page says so.
    stack.wait_text("#detail-status", "FAILED", timeout=60)
    stack.wait_text("#qr-countdown", "nobody scanned it")
    assert not stack.shown("#qr-img") and stack.shown("#qr-renew")
    stack.click("#qr-renew")
    wait_for(lambda: stack.shown("#qr-img"), timeout=60, message="a new QR")
    assert "SCAN QR" in stack.text("#detail-status")
    assert stack.api("DELETE", "/sessions/late?purge=true").status_code == 200


def test_a_scoped_key_sees_only_its_sessions(stack):
    assert stack.api("POST", "/sessions", json={"id": "acme-1"}).status_code == 201
    assert stack.api("DELETE", "/sessions/acme-1").status_code == 200  # kept, STOPPED
    stack.sign_in(SCOPED)
    wait_for(lambda: "acme-1" in stack.row("acme-1"), message="acme-1 listed")
    assert not stack.row("sales") and not stack.row("support")
    assert stack.text("#session-count") == "(1)"
    stack.click('#nav a[data-view="gateway"]')
    stack.wait_text("#gateway-error", "scoped")
    stack.click("#signout")
    wait_for(lambda: stack.shown("#login"), message="signed out")
    assert stack.driver.execute_script("return sessionStorage.length") == 0
