"""The sandbox page in real Chromium through Selenium: the wa-js surface the gateway relies on.

Every test starts its own sandbox server (options vary) and its own browser(s) on a
profile under tmp_path; the finalizers quit every browser and stop the server.
"""

from __future__ import annotations

import base64
import threading

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import JavascriptException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from waengine.sandbox import make_server

from ..conftest import phones

number = phones(__name__)

pytestmark = pytest.mark.browser

ALICE, BUDI, CITRA = number(1), number(2), number(3)
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
    "--disable-background-networking --disable-component-update --disable-sync "
    "--no-first-run --disable-quic"
).split()
# Registered before any page script runs; hooks WPP as soon as the page defined it, the
# way a gateway must (events at injection are never replayed to late listeners).
RECORDER = """
window.__events = [];
document.addEventListener('DOMContentLoaded', () => {
  WPP.onAny((name, ...args) =>
    window.__events.push({name, args: JSON.parse(JSON.stringify(args))}));
});
"""
CALL = """
const [path, args, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
let fn = window.WPP; let self = null;
for (const part of path.split('.')) { self = fn; fn = fn[part]; }
const plain = (value) => JSON.parse(JSON.stringify(value === undefined ? null : value));
const ok = (value) => done({ok: true, value: plain(value)});
const fail = (e) => done({ok: false, code: e && e.code, message: e && e.message, text: String(e),
                          isError: e instanceof Error});
try { Promise.resolve(fn.apply(self, args)).then(ok, fail); } catch (e) { fail(e); }
"""


class SandboxClient:
    """The control API over HTTP."""

    def __init__(self, url: str):
        self.url = url

    def post(self, path: str, expect: int | None = None, **body) -> dict:
        resp = requests.post(self.url + path, json=body, timeout=10)
        if expect is not None:
            assert resp.status_code == expect, resp.text
        else:
            assert resp.status_code < 300, resp.text
        return resp.json()

    def get(self, path: str, **params) -> dict:
        resp = requests.get(self.url + path, params=params, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def messages(self, **params) -> list[dict]:
        return self.get("/_sandbox/messages", **params)["data"]


@pytest.fixture
def start_sandbox():
    servers = []

    def start(**options) -> SandboxClient:
        server = make_server("127.0.0.1", 0, **options)
        threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
        servers.append(server)
        return SandboxClient(f"http://127.0.0.1:{server.server_port}")

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def sandbox(start_sandbox) -> SandboxClient:
    return start_sandbox()


class Page:
    """One Chromium showing the sandbox page, with helpers to call WPP and wait."""

    def __init__(self, driver, url: str):
        self.driver = driver
        self.url = url

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def call(self, path: str, *args) -> dict:
        """Call WPP.<path>(*args) in-page; return {ok, value} or {ok: False, code, ...}."""
        return self.driver.execute_async_script(CALL, path, list(args))

    def value(self, path: str, *args):
        result = self.call(path, *args)
        assert result["ok"], result
        return result["value"]

    def wait(self, script: str, timeout: float = 20, message: str = ""):
        """Poll a JS expression until truthy (tolerates the page reloading meanwhile)."""
        wait = WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(JavascriptException,))
        return wait.until(lambda d: d.execute_script("return " + script), message or script)

    def events(self, name: str | None = None) -> list[dict]:
        events = self.js("return window.__events || []")
        return [e for e in events if name in (None, e["name"])]

    def wait_event(self, name: str, predicate=lambda e: True, timeout: float = 20) -> dict:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            lambda d: next((e for e in self.events(name) if predicate(e)), None), name)

    def wait_full_ready(self):
        self.wait("window.WPP && WPP.isFullReady === true", message="WPP.isFullReady")

    def wait_logged_in(self):
        self.wait("window.WPP && WPP.isFullReady && WPP.conn.isAuthenticated() && "
                  "WPP.conn.getStreamData().mode === 'MAIN'", message="logged in")

    def auth_code(self) -> dict:
        self.wait_full_ready()
        return self.value("conn.getAuthCode")


@pytest.fixture
def launch(tmp_path):
    drivers = []

    def start(sandbox: SandboxClient, profile: str = "profile") -> Page:
        options = webdriver.ChromeOptions()
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / profile}")
        options.binary_location = "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        drivers.append(driver)
        driver.set_script_timeout(30)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
        driver.get(sandbox.url + "/")
        return Page(driver, sandbox.url)

    yield start
    for driver in drivers:
        try:
            driver.quit()
        except Exception:  # already quit by the test
            pass


def link(page: Page, sandbox: SandboxClient, phone: str) -> dict:
    code = page.auth_code()
    linked = sandbox.post("/_sandbox/link", qr=code["fullCode"], phone=phone)
    page.wait_logged_in()
    return linked


# --------------------------------------------------------------------------- loading & QR


def test_the_page_defines_wpp_at_once_and_becomes_ready_in_order(sandbox, launch):
    page = launch(sandbox)
    assert page.js("return [WPP.version, WPP.license, typeof WPP.loader.onReady]") == [
        "4.6.0", "Apache-2.0", "function"]
    page.wait_full_ready()
    names = [e["name"] for e in page.events()]
    assert names.index("loader.injected") < names.index("loader.ready") < names.index(
        "loader.full_ready")
    assert {"conn.require_auth", "conn.main_ready"} <= set(names)
    assert page.events("conn.stream_mode_changed")[0]["args"] == ["QR"]
    assert page.value("conn.isAuthenticated") is False
    assert page.value("conn.isMainReady") is True  # also on the QR screen (as in wa-js 4.6.0)


def test_the_qr_screen_shows_a_four_part_auth_code(sandbox, launch):
    page = launch(sandbox)
    code = page.auth_code()
    assert code["type"] == "multidevice"
    parts = code["fullCode"].split(",")
    assert parts == [code["ref"], code["staticKeyPair"], code["identityKeyPair"], code["secretKey"]]
    assert page.events("conn.auth_code_change")[0]["args"][0]["fullCode"] == code["fullCode"]
    page.wait("document.getElementById('qr-img').complete && "
              "document.getElementById('qr-img').naturalWidth > 0", message="QR image shown")
    assert page.js("return document.getElementById('qr-box').dataset.ref") == code["fullCode"]


def test_the_qr_rotates_goes_idle_and_refreshes(start_sandbox, launch):
    sandbox = start_sandbox(qr_first_ttl=3.0, qr_ttl=0.5, qr_max=3)
    page = launch(sandbox)
    page.wait_event("conn.qrcode_idle", timeout=15)
    codes = [e["args"][0] for e in page.events("conn.auth_code_change")]
    assert len({c["ref"] for c in codes if c}) == 3 and codes[-1] is None
    assert page.value("conn.isIdle") is True
    assert page.value("conn.getAuthCode") is None
    fresh = page.value("conn.refreshQR")
    assert fresh["ref"] not in {c["ref"] for c in codes if c}
    assert page.value("conn.isIdle") is False


def test_an_expired_or_unknown_qr_cannot_be_scanned(start_sandbox, launch):
    sandbox = start_sandbox(qr_first_ttl=3.0, qr_ttl=30.0)
    page = launch(sandbox)
    first = page.wait_event("conn.auth_code_change")["args"][0]
    page.wait_event("conn.auth_code_change", lambda e: e["args"][0] and
                    e["args"][0]["ref"] != first["ref"])
    stale = requests.post(sandbox.url + "/_sandbox/link",
                          json={"qr": first["fullCode"], "phone": ALICE}, timeout=10)
    assert stale.status_code == 410 and stale.json()["error"]["code"] == "qr_expired"
    unknown = requests.post(sandbox.url + "/_sandbox/link",
                            json={"qr": "2@nope,a,b,c", "phone": ALICE}, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "qr_not_found"


# --------------------------------------------------------------------------- login


def test_a_scan_reloads_the_page_into_a_logged_in_session(sandbox, launch):
    sandbox.post("/_sandbox/phones", phone=ALICE, name="Alice")
    page = launch(sandbox)
    page.js("window.__marker = 1")
    link(page, sandbox, ALICE)
    assert page.js("return window.__marker === undefined"), "the document was reloaded"
    assert page.value("conn.getMyUserId") == f"{ALICE}@c.us"
    assert page.value("conn.isRegistered") is True
    assert page.value("conn.getMyUserLid").endswith("@lid")
    assert page.value("conn.getAuthCode") is None
    names = [e["name"] for e in page.events()]
    assert "conn.main_loaded" in names and "conn.authenticated" not in names
    assert page.value("conn.getStreamData") == {"mode": "MAIN", "info": "NORMAL"}


def test_without_reload_the_scan_logs_in_the_same_document(start_sandbox, launch):
    sandbox = start_sandbox(reload_after_scan=False)
    page = launch(sandbox)
    page.js("window.__marker = 1")
    link(page, sandbox, ALICE)
    assert page.js("return window.__marker") == 1
    names = [e["name"] for e in page.events()]
    assert names.index("conn.authenticated") < names.index("conn.main_loaded")
    modes = [e["args"][0] for e in page.events("conn.stream_mode_changed")]
    assert modes == ["QR", "SYNCING", "MAIN"]


def test_a_new_browser_on_the_same_profile_comes_back_logged_in(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    page.driver.quit()
    again = launch(sandbox)
    again.wait_logged_in()
    assert again.value("conn.getMyUserId") == f"{ALICE}@c.us"
    assert "conn.authenticated" not in [e["name"] for e in again.events()]


def test_an_unlink_from_the_phone_sends_the_page_back_to_the_qr(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    sandbox.post(f"/_sandbox/phones/{ALICE}/unlink")
    page.wait_event("conn.logout")
    assert page.events("conn.logout_reason")[0]["args"] == ["user_initiated"]
    page.wait("window.WPP && WPP.isFullReady && !WPP.conn.isAuthenticated() && "
              "WPP.conn.getStreamData().mode === 'QR'", message="back on the QR screen")
    assert page.auth_code()["fullCode"]
    assert sandbox.get(f"/_sandbox/phones/{ALICE}")["devices"] == []


def test_a_profile_unlinked_while_closed_opens_on_the_qr(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    page.driver.quit()
    sandbox.post(f"/_sandbox/phones/{ALICE}/unlink")
    again = launch(sandbox)
    assert again.auth_code()["fullCode"]
    assert again.value("conn.isAuthenticated") is False


def test_conn_logout_forgets_the_login(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    assert page.value("conn.logout") is True
    page.wait("window.WPP && WPP.isFullReady && !WPP.conn.isAuthenticated()", message="QR")
    assert sandbox.get(f"/_sandbox/phones/{ALICE}")["devices"] == []


def test_a_pairing_code_links_the_page(sandbox, launch):
    page = launch(sandbox)
    page.wait_full_ready()
    code = page.value("conn.genLinkDeviceCodeForPhoneNumber", ALICE)
    assert len(code) == 8
    sandbox.post("/_sandbox/link", code=f"{code[:4]}-{code[4:]}", phone=ALICE)
    page.wait_logged_in()
    failed = page.call("conn.genLinkDeviceCodeForPhoneNumber", ALICE)
    assert failed["code"] == "cannot_get_code_for_already_authenticated"


# --------------------------------------------------------------------------- messages


def test_a_sent_text_reaches_the_phone_and_acks_climb_to_read(sandbox, launch):
    sandbox.post("/_sandbox/phones", phone=BUDI, name="Budi")
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    sent = page.value("chat.sendTextMessage", f"{BUDI}@c.us", "Halo Budi")
    assert sent["ack"] == 1 and sent["from"] == f"{ALICE}@c.us" and sent["to"] == f"{BUDI}@c.us"
    assert sent["sendMsgResult"]["messageSendResult"] == "OK"
    assert sent["id"].startswith(f"true_{BUDI}@c.us_")
    random_id = sent["id"].split("_")[2]
    inbox = sandbox.messages(to=BUDI)
    assert [(m["id"], m["text"], m["from"], m["key"]) for m in inbox] == [
        (random_id, "Halo Budi", ALICE, sent["id"])]
    own = page.wait_event("chat.new_message")["args"][0]
    assert own["id"]["fromMe"] is True and own["id"]["_serialized"] == sent["id"]
    sandbox.post(f"/_sandbox/phones/{BUDI}/deliver")
    page.wait_event("chat.msg_ack_change", lambda e: e["args"][0]["ack"] == 2)
    sandbox.post(f"/_sandbox/phones/{BUDI}/read", chat=ALICE)
    page.wait_event("chat.msg_ack_change", lambda e: e["args"][0]["ack"] == 3)
    acks = [e["args"][0] for e in page.events("chat.msg_ack_change")]
    assert [a["ack"] for a in acks] == [1, 2, 3]
    # ack 1 is the server's answer to the send; receipts rebuild the key from the receipt,
    # whose sender is Budi by his LID: only the key's id part is the sent one.
    assert acks[0]["ids"][0]["_serialized"] == sent["id"] and acks[0]["chat"] == f"{BUDI}@c.us"
    assert all(a["ids"][0]["id"] == random_id and a["ids"][0]["fromMe"] for a in acks)
    assert all(a["chat"].endswith("@lid") and a["ids"][0]["remote"] == a["chat"]
               for a in acks[1:])


def test_an_incoming_message_fires_new_message_with_a_model(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    sandbox.post("/_sandbox/phones", phone=BUDI, name="Budi")
    posted = sandbox.post("/_sandbox/messages", expect=201, **{"from": BUDI, "to": ALICE,
                                                               "text": "apa kabar?"})
    page.js("""window.__models = [];
               WPP.on('chat.new_message', (m) => window.__models.push({
                 key: String(m.id), fromMe: m.id.fromMe, from: String(m.from), to: String(m.to),
                 body: m.body, t: m.t, notify: m.notifyName, push: m.senderObj.pushname,
                 remote: m.id.remote.isUser(), group: m.isGroupMsg}));""")
    event = page.wait_event("chat.new_message")["args"][0]
    assert event["id"] == {"fromMe": False, "remote": f"{BUDI}@c.us", "id": posted["id"],
                           "_serialized": f"false_{BUDI}@c.us_{posted['id']}"}
    assert event["body"] == "apa kabar?" and event["from"] == f"{BUDI}@c.us"
    sandbox.post("/_sandbox/messages", expect=201, **{"from": BUDI, "to": ALICE, "text": "2"})
    model = page.wait("window.__models[0]")
    assert model["fromMe"] is False and model["notify"] == "Budi" and model["push"] == "Budi"
    assert model["remote"] is True and model["group"] is False and model["t"] > 1_600_000_000
    chat = page.value("chat.get", BUDI)
    assert chat["unreadCount"] == 2
    assert page.value("chat.markIsRead", BUDI)["unreadCount"] == 2


def test_events_wait_on_the_server_while_the_browser_is_closed(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    page.driver.quit()
    sandbox.post("/_sandbox/messages", expect=201, **{"from": BUDI, "to": ALICE, "text": "later"})
    again = launch(sandbox)
    event = again.wait_event("chat.new_message")["args"][0]
    assert event["body"] == "later"
    assert again.value("chat.getMessages", BUDI, {"count": 5})[-1]["body"] == "later"


def test_a_revoke_from_the_sender_fires_msg_revoke(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    posted = sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "oops"})
    page.wait_event("chat.new_message")
    sandbox.post(f"/_sandbox/messages/{posted['id']}/revoke")
    revoke = page.wait_event("chat.msg_revoke")["args"][0]
    assert revoke["refId"]["id"] == posted["id"] and revoke["type"] == "revoke"
    assert revoke["from"] == f"{BUDI}@c.us"


def test_files_locations_reactions_and_replies(sandbox, launch):
    sandbox.post("/_sandbox/phones", phone=BUDI, name="Budi")
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a") + b"\0" * 64).decode()
    sent = page.value("chat.sendFileMessage", BUDI, png, {"caption": "look"})
    assert set(sent) == {"id", "ack", "sendMsgResult"}
    pdf = page.value("chat.sendFileMessage", BUDI, "data:application/pdf;base64," +
                     base64.b64encode(b"%PDF-1.4 hi").decode(), {"filename": "a.pdf"})
    bad = page.call("chat.sendFileMessage", BUDI, "%%%not base64%%%", {})
    assert bad["ok"] is False and bad["text"] == "invalid_data_url" and not bad["isError"]
    loc = page.value("chat.sendLocationMessage", BUDI, {"lat": "-6.2", "lng": 106.8,
                                                        "name": "Monas", "address": "Jakarta"})
    reply = page.value("chat.sendTextMessage", BUDI, "re", {"quotedMsg": sent["id"]})
    react = page.value("chat.sendReactionToMessage", reply["id"], "👍")
    assert react == {"sendMsgResult": "OK"}
    by_id = {m["id"]: m for m in sandbox.messages(to=BUDI)}
    image = by_id[sent["id"].split("_")[2]]
    assert (image["type"], image["caption"], image["mimetype"], image["filename"]) == (
        "image", "look", "image/png", "image.png")
    document = by_id[pdf["id"].split("_")[2]]
    assert (document["type"], document["caption"], document["size"]) == ("document", "a.pdf", 11)
    location = by_id[loc["id"].split("_")[2]]
    assert (location["lat"], location["lng"], location["loc"]) == (-6.2, 106.8, "Monas\nJakarta")
    assert by_id[reply["id"].split("_")[2]]["quotedId"] == image["id"]
    reaction = [m for m in by_id.values() if m["type"] == "reaction"][0]
    assert reaction["text"] == "👍" and reaction["quotedId"] == reply["id"].split("_")[2]


def test_a_stalled_function_hangs_until_cleared(sandbox, launch):
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    sandbox.post("/_sandbox/stall", fn="chat.sendTextMessage", seconds=30)
    page.driver.set_script_timeout(1)
    with pytest.raises(TimeoutException):
        page.call("chat.sendTextMessage", BUDI, "stuck")
    sandbox.post("/_sandbox/stall", fn="chat.sendTextMessage", seconds=0)
    page.driver.set_script_timeout(30)
    assert page.value("chat.sendTextMessage", BUDI, "free")["ack"] == 1


# --------------------------------------------------------------------------- lookups & errors


def test_lookups_and_their_errors_match_wa_js(start_sandbox, launch):
    sandbox = start_sandbox(seed_contacts=40, seed_groups=3)
    sandbox.post("/_sandbox/phones", phone=BUDI, name="Budi")
    sandbox.post("/_sandbox/phones", phone=ALICE, name="Alice",
                 contacts=[{"phone": BUDI, "name": "Budi Kantor"}])
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    sync_throw = page.js("try { WPP.chat.get('not a wid'); return null } "
                         "catch (e) { return [e.code, e instanceof Error] }")
    assert sync_throw == ["invalid_wid", True]
    assert page.js("return WPP.chat.get('6289999999999') === undefined")
    assert page.call("chat.getMessages", "6289999999999")["code"] == "chat_not_found"
    # an exact key lookup (wa-js module 17530): the key's chat first, then the message
    assert page.call("chat.getMessageById", "true_1@c.us_ABCDEF0123456789ABCD")["code"] == (
        "chat_not_found")
    assert page.call("chat.getMessageById", "ABCDEF0123456789ABCD")["code"] == "msg_not_found"
    assert page.value("contact.queryExists", "6289999999999") is None
    exists = page.value("contact.queryWidExists", BUDI)
    assert exists["wid"] == f"{BUDI}@c.us" and exists["biz"] is False
    budi = page.value("contact.get", BUDI)
    assert budi["name"] == "Budi Kantor" and budi["pushname"] == "Budi"
    contacts = page.value("contact.list")
    assert len(contacts) >= 40
    assert page.js("return WPP.contact.list().then(l => l.some(c => !c.isMyContact))",)
    groups = page.value("chat.list", {"onlyGroups": True})
    assert len(groups) == 3 and all(g["id"].endswith("@g.us") for g in groups)
    shape = page.js("""
      const c = WPP.chat.get(arguments[0]);
      const p = c.groupMetadata.participants.getModelsArray()[0];
      return [typeof c.groupMetadata.subject, typeof p.isAdmin, String(p.id).endsWith('@c.us'),
              c.formattedTitle === c.groupMetadata.subject]""", groups[0]["id"])
    assert shape == ["string", "boolean", True, True]


def test_group_create_and_membership_changes(sandbox, launch):
    for phone, name in ((BUDI, "Budi"), (CITRA, "Citra")):
        sandbox.post("/_sandbox/phones", phone=phone, name=name)
    page = launch(sandbox)
    link(page, sandbox, ALICE)
    missing = page.call("group.create", "Team", ["6289999999999"])
    assert missing["code"] == "participant_not_exists"
    created = page.value("group.create", "Team", [BUDI])
    gid = created["gid"]
    assert created["participants"][f"{BUDI}@c.us"]["code"] == 200
    added = page.value("group.addParticipants", gid, [CITRA])
    assert added[f"{CITRA}@c.us"]["code"] == 200
    change = page.wait_event("group.participant_changed")["args"][0]
    assert change == {"groupId": gid, "action": "add", "operation": "add",
                      "participants": [f"{CITRA}@c.us"], "author": f"{ALICE}@c.us",
                      "authorPushName": f"+{ALICE}"}
    ids = {p["id"] for p in page.value("group.getParticipants", gid)}
    assert ids == {f"{ALICE}@c.us", f"{BUDI}@c.us", f"{CITRA}@c.us"}
    sent = page.value("chat.sendTextMessage", gid, "hi all")
    assert sent["from"].endswith("@lid") and sent["id"].endswith("@lid")
    assert {m["text"] for m in sandbox.messages(to=CITRA)} == {"hi all"}
    sandbox.post(f"/_sandbox/groups/{gid}/participants", remove=[BUDI])
    page.wait_event("group.participant_changed", lambda e: e["args"][0]["action"] == "remove")
    assert page.call("group.getParticipants", "120363000000000000@g.us")["code"] == (
        "chat_not_found")
