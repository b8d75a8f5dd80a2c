"""Flask routes of the sandbox: the page, its transport API and the control API.

- `/` and `/static/*`: the WhatsApp-Web-like page (wpp.js and its modules in wpp/ define window.WPP).
- `/_sandbox/api/*`: the page's own transport (same-origin HTTP long-polling).
- `/_sandbox/*`: the control API used by tests and people (docs/sandbox.md), and
  `/_sandbox/phone`, a page that drives it like a phone (link, write, inbox).
Every error is JSON `{"error": {"code", "message"}}`, never an HTML page.
"""

from __future__ import annotations

import io
import time

import segno
from flask import Blueprint, Flask, current_app, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from . import social
from .context import body, device_auth, network
from .network import Network, SandboxError
from .network.model import HISTORY_DELAY_MAX
from .weight import field
from .weight import page_options as page_options_for

control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")
transport = Blueprint("sandbox_transport", __name__, url_prefix="/_sandbox/api")
page = Blueprint("sandbox_page", __name__)

# The page's Content-Security-Policy, strict like web.whatsapp.com's: scripts only from the
# page's own origin (no 'unsafe-inline', no eval, not the gateway's origin), so a gateway that
# injected an inline <script> or loaded its script from its own server would fail here as it
# would on WhatsApp Web; scripts added over the DevTools protocol at document start are exempt.
PAGE_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    # WhatsApp Web's own policy lets the page fetch data: and blob: URLs (wa-js turns media
    # given as data: URLs into files that way: util/convertToFile).
    "connect-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
LONG_POLL_SECONDS = 25.0  # below common proxy idle timeouts; the page re-polls at once
QR_DATA_MAX = 2048


def _timeout() -> float:
    try:
        return max(0.0, min(float(request.args.get("timeout", LONG_POLL_SECONDS)), 30.0))
    except ValueError as err:
        raise SandboxError(400, "invalid_timeout", "timeout must be a number") from err


# --------------------------------------------------------------------------- page


@page.get("/")
def index():
    opts = network().options
    page_options = {"reloadAfterScan": opts.reload_after_scan, **page_options_for(opts.page_weight)}
    response = current_app.make_response(render_template("index.html", options=page_options))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


@page.get("/_sandbox/phone")
def phone_page():
    """A simulated phone for people: link a device by code or QR text, write, read an inbox."""
    return render_template("phone.html")


@page.get("/favicon.ico")
def favicon():
    return "", 204


# --------------------------------------------------------------------------- control API


@control.post("/phones")
def create_phone():
    data = body()
    view, created = network().upsert_phone(
        data.get("phone"),
        name=data.get("name"),
        contacts=data.get("contacts"),
        seed_contacts=data.get("seedContacts"),
        seed_groups=data.get("seedGroups"),
        addressing=data.get("addressing"),
        business=data.get("business"),
    )
    if data.get("about") is not None or data.get("picture") is not None:
        network().set_profile(data.get("phone"), about=data.get("about"),
                              picture=data.get("picture"))
        view = network().get_phone(data.get("phone"))
    return view, 201 if created else 200


@control.get("/phones/<phone>")
def get_phone(phone):
    return network().get_phone(phone)


@control.post("/phones/<phone>/unlink")
def unlink_phone(phone):
    data = body()
    return network().unlink_phone(phone, device_id=data.get("device"), reason=data.get("reason"))


@control.post("/phones/<phone>/deliver")
def phone_deliver(phone):
    return network().deliver_to_phone(phone)


@control.post("/phones/<phone>/read")
def phone_read(phone):
    return network().read_by_phone(phone, body().get("chat"))


@control.post("/phones/<phone>/silent")
def phone_silent(phone):
    return network().set_silent(phone, body().get("silent"))


@control.post("/phones/<phone>/wa-update")
def phone_wa_update(phone):
    data = body()
    return network().set_wa_update(phone, data.get("remove"), data.get("rename"),
                                   data.get("version"))


@control.post("/phones/<phone>/send-failures")
def send_failures(phone):
    data = body()
    return network().set_send_failures(phone, data.get("count"), data.get("result"))


@control.post("/phones/<phone>/reach-out")
def set_reach_out(phone):
    return network().set_reach_out(phone, body())


@control.get("/phones/<phone>/reach-out")
def get_reach_out(phone):
    return network().get_reach_out(phone)


@control.post("/phones/<phone>/number-private")
def number_private(phone):
    return network().set_number_private(phone, body().get("private"))


@control.post("/phones/<phone>/share-number")
def share_number(phone):
    return network().share_number(phone, body().get("with"))


@control.post("/phones/<phone>/retry-receipts")
def retry_receipts(phone):
    return network().set_retry_receipts(phone, body().get("refuse"))


@control.post("/phones/<phone>/query-failures")
def query_failures(phone):
    return network().set_query_failures(phone, body().get("count"))
@control.get("/phones/<phone>/chats")
def phone_chats(phone):
    return {"data": network().phone_chats(phone)}


@control.get("/phones/<phone>/presence")
def get_phone_presence(phone):
    return network().phone_presence_view(phone)


@control.post("/phones/<phone>/presence")
def phone_presence(phone):
    data = body()
    return network().phone_presence(phone, data.get("to"), str(data.get("state") or ""))


@control.get("/phones/<phone>/labels")
def phone_labels(phone):
    return {"data": network().phone_labels(phone)}


@control.post("/link")
def link():
    data = body()
    if not data.get("qr") and not data.get("code"):
        raise SandboxError(400, "validation_error", "Give 'qr' (fullCode or ref) or 'code'")
    return network().link(qr=data.get("qr"), code=data.get("code"), phone=data.get("phone"))


@control.post("/messages")
def send_message():
    data = body()
    if not data.get("from") or not data.get("to"):
        raise SandboxError(400, "validation_error", "'from' and 'to' are required")
    if data.get("ciphertext") or data.get("decryptAfter") is not None:
        return network().send_ciphertext(data["from"], data["to"], data.get("text", ""),
                                         _decrypt_after(data)), 201
    message = network().send_from_phone(
        data["from"], data["to"], data.get("text", ""),
        quoted_id=data.get("quotedId"), mentions=data.get("mentions"),
        caption=data.get("caption"), media=data.get("media"),
    )
    return message, 201


def _decrypt_after(data: dict) -> float | None:
    """decryptAfter seconds (the message decrypts then), or None: it stays ciphertext."""
    value = data.get("decryptAfter")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 600:
        raise SandboxError(400, "validation_error", "'decryptAfter' must be 0..600 seconds")
    return float(value)


@control.post("/phones/<phone>/status")
def post_status(phone):
    return network().post_status(phone, body().get("text")), 201


@control.post("/phones/<phone>/security-code")
def change_security_code(phone):
    return network().change_security_code(phone)


@control.post("/calls")
def start_call():
    data = body()
    if not data.get("from") or not data.get("to"):
        raise SandboxError(400, "validation_error", "'from' and 'to' are required")
    ring = data.get("ringSeconds")
    if ring is not None and (isinstance(ring, bool) or not isinstance(ring, (int, float))):
        raise SandboxError(400, "validation_error", "'ringSeconds' must be a number")
    return network().start_call(data["from"], data["to"], video=data.get("video") is True,
                                ring_seconds=ring), 201


@control.get("/calls/<call_id>")
def get_call(call_id):
    return network().get_call(call_id)


@control.get("/messages")
def list_messages():
    return {"data": network().list_messages(request.args.get("to"), request.args.get("from"))}


@control.post("/messages/<msg_id>/read")
def read_message(msg_id):
    data = body()
    if not data.get("by"):
        raise SandboxError(400, "validation_error", "'by' (the reading phone) is required")
    return network().read_receipt(msg_id, data["by"])


@control.post("/messages/<msg_id>/revoke")
def revoke_message(msg_id):
    return network().revoke(msg_id)


@control.post("/messages/<msg_id>/edit")
def edit_message(msg_id):
    return network().edit(msg_id, body().get("text"))


@control.post("/messages/<msg_id>/vote")
def vote(msg_id):
    data = body()
    if not data.get("from") or not isinstance(data.get("options"), list):
        raise SandboxError(400, "validation_error", "'from' and 'options' (a list) are required")
    return network().vote(msg_id, data["from"], data["options"])


@control.post("/messages/<msg_id>/expire")
def expire_media(msg_id):
    return network().expire_media(msg_id)


@control.post("/groups")
def create_group():
    data = body()
    if not data.get("owner"):
        raise SandboxError(400, "validation_error", "'owner' (a phone) is required")
    group = network().create_group(data.get("name"), data.get("owner"),
                                   data.get("participants") or [], create_missing=True,
                                   addressing=data.get("addressing"))
    return group, 201


@control.get("/groups/<gid>")
def get_group(gid):
    return network().get_group(gid)


@control.post("/groups/<gid>/participants")
def change_participants(gid):
    data = body()
    if not data.get("add") and not data.get("remove"):
        raise SandboxError(400, "validation_error", "Give 'add' or 'remove' (a list of phones)")
    result = network().change_participants(gid, data.get("add"), data.get("remove"),
                                           by=data.get("by"), create_missing=True)
    return {**result["group"], "results": result["results"]}


@control.post("/phones/<phone>/mode")
def set_mode(phone):
    data = body()
    return network().set_mode(phone, data.get("mode"), data.get("needsUpdate"))


@control.post("/stall")
def stall():
    data = body()
    if not data.get("fn"):
        raise SandboxError(400, "validation_error", "'fn' (e.g. chat.sendTextMessage) is required")
    try:
        seconds = float(data.get("seconds") or 0)
    except (TypeError, ValueError) as err:
        raise SandboxError(400, "validation_error", "'seconds' must be a number") from err
    return {"stalls": network().set_stall(data["fn"], seconds)}


@control.post("/reset")
def reset():
    network().reset()
    return {"reset": True}


@control.get("/qr.png")
def qr_png():
    data = request.args.get("data", "")
    if not data or len(data) > QR_DATA_MAX:
        raise SandboxError(400, "validation_error", "'data' (1..2048 chars) is required")
    out = io.BytesIO()
    segno.make(data, error="l", micro=False).save(out, kind="png", scale=5, border=2)
    out.seek(0)
    response = send_file(out, mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- page transport


@transport.post("/hello")
def hello():
    data = body()
    return network().hello(str(data.get("device", "")), str(data.get("token", "")),
                           str(data.get("client", "")), data.get("keys"))


@transport.post("/retry")
def device_retry():
    return network().retry_from_device(*device_auth(), body().get("ids"))


@transport.post("/pairing")
def start_pairing():
    return network().start_pairing(body().get("deviceName"))


@transport.get("/pairing/<pid>")
def poll_pairing(pid):
    return network().poll_pairing(pid, request.args.get("ref") or None, _timeout(),
                                  known_code=request.args.get("code") or None)


@transport.post("/pairing/<pid>/refresh")
def refresh_pairing(pid):
    return network().refresh_pairing(pid)


@transport.post("/pairing/<pid>/close")
def close_pairing(pid):
    network().close_pairing(pid)
    return {"closed": True}


@transport.post("/pairing/<pid>/code")
def pairing_code(pid):
    return {"code": network().pairing_code(pid, body().get("phone"))}


@transport.get("/sync")
def sync():
    return network().sync(*device_auth())


@transport.get("/events")
def poll_events():
    try:
        ack = int(request.args.get("ack", 0))
    except ValueError as err:
        raise SandboxError(400, "invalid_ack", "ack must be an integer") from err
    return network().poll_events(*device_auth(), request.args.get("client", ""), ack, _timeout(),
                                 stream=request.args.get("stream") or None)


@transport.post("/send")
def device_send():
    return network().send_from_device(*device_auth(), body())


@transport.post("/revoke")
def device_revoke():
    return network().revoke_from_device(*device_auth(), str(body().get("id") or ""))


@transport.post("/edit")
def device_edit():
    data = body()
    return network().edit_from_device(*device_auth(), str(data.get("id") or ""), data.get("body"))


@transport.post("/calls/<call_id>/reject")
def device_reject_call(call_id):
    return network().reject_call_from_device(*device_auth(), call_id)


@transport.post("/star")
def device_star():
    data = body()
    return network().star_from_device(*device_auth(), data.get("ids") or [],
                                      data.get("star") is not False)


@transport.post("/pin")
def device_pin():
    data = body()
    return network().pin_from_device(*device_auth(), str(data.get("id") or ""),
                                     data.get("pin") is not False, data.get("duration"))


@transport.post("/read")
def device_read():
    return {"unreadCount": network().mark_read(*device_auth(), str(body().get("chat", "")))}


@transport.post("/takeover")
def device_takeover():
    return network().takeover(*device_auth(), str(body().get("client") or ""))


@transport.post("/logout")
def device_logout():
    network().logout_device(*device_auth(), reason=str(body().get("reason") or "user_initiated"))
    return {"loggedOut": True}


@transport.get("/exists")
def exists():
    phone = request.args.get("phone", "")
    if request.headers.get("X-Sandbox-Device"):  # a linked page: injected failures apply
        return {"result": network().query_exists_for_device(*device_auth(), phone)}
    return {"result": network().query_exists(phone)}


@transport.get("/message/<msg_id>")
def device_message(msg_id):
    return network().get_message_for_device(*device_auth(), msg_id)


@transport.get("/media/<msg_id>")
def device_media(msg_id):
    msg = network().media_for_device(*device_auth(), msg_id)
    return send_file(io.BytesIO(msg.data), mimetype=msg.mimetype, download_name=msg.filename)


@transport.get("/history")
def device_history():
    try:
        count = int(request.args.get("count", 20))
    except ValueError as err:
        raise SandboxError(400, "invalid_count", "count must be an integer") from err
    # WhatsApp Web fetches a chat's messages when it is opened, which takes a moment; the
    # wait is outside the network's lock, so nothing else waits with this page.
    time.sleep(max(0.0, min(network().options.history_delay, HISTORY_DELAY_MAX)))
    messages = network().history(*device_auth(), request.args.get("chat", ""),
                                 request.args.get("before") or None, count)
    return {"messages": messages}


@transport.post("/groups")
def device_create_group():
    data = body()
    phone = network().device_phone(*device_auth())
    return network().create_group(data.get("name"), phone, data.get("participants") or [])


@transport.post("/groups/<gid>/participants")
def device_change_participants(gid):
    data = body()
    phone = network().device_phone(*device_auth())
    return network().change_participants(gid, data.get("add"), data.get("remove"), by=phone,
                                         as_admin=True)


@transport.post("/chats/action")
def device_chat_action():
    data = body()
    return network().chat_action_from_device(*device_auth(), str(data.get("chat") or ""),
                                             str(data.get("action") or ""), data.get("value"))


@transport.post("/chatstate")
def device_chatstate():
    data = body()
    return network().chatstate_from_device(*device_auth(), str(data.get("chat") or ""),
                                           str(data.get("state") or ""))


@transport.post("/presence")
def device_presence():
    return network().presence_from_device(*device_auth(), body().get("available") is not False)


@transport.post("/presence/subscribe")
def device_subscribe_presence():
    data = body()
    return {"ids": network().subscribe_presence(*device_auth(), str(data.get("client") or ""),
                                                data.get("ids") or [])}


@transport.get("/labels")
def device_labels():
    return {"labels": network().labels_for_device(*device_auth())}


@transport.post("/labels")
def device_add_label():
    data = body()
    return network().add_label_from_device(*device_auth(), data.get("name"),
                                           data.get("colorIndex"))


@transport.post("/labels/apply")
def device_apply_labels():
    data = body()
    return network().apply_labels_from_device(*device_auth(), data.get("chats") or [],
                                              data.get("ops") or [])


@transport.get("/stall")
def get_stall():
    return {"seconds": network().get_stall(request.args.get("fn", ""))}


# --------------------------------------------------------------------------- errors


def error_response(status: int, code: str, message: str, extra: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, **(extra or {})}})
    response.status_code = status
    return response


def handle_sandbox_error(err: SandboxError):
    return error_response(err.status, err.code, err.message, getattr(err, "extra", None))


def handle_http_error(err: HTTPException):
    code = (err.name or "error").lower().replace(" ", "_")
    return error_response(err.code or 500, code, err.description or err.name)


def handle_unexpected(err: Exception):
    current_app.logger.exception("sandbox: unhandled error")
    return error_response(500, "internal_error", "Internal error in the sandbox")


def build_app(net: Network) -> Flask:
    """Return the Flask app serving `net`."""
    app = Flask(__name__, static_folder="static", static_url_path="/_sandbox/static",
                template_folder="templates")
    app.extensions["sandbox_network"] = net
    app.json.sort_keys = False
    for blueprint in (page, control, transport, social.control, social.transport, field):
        app.register_blueprint(blueprint)
    app.register_error_handler(SandboxError, handle_sandbox_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    return app
