"""Session routes: create, list, inspect, stop or purge, start, reconnect, log out, QR."""

from __future__ import annotations

import io
import time

import segno
from apiflask import APIBlueprint
from flask import current_app, request, send_file

from .. import auth
from ..engine.calls import call_policy
from ..engine.outgoing import pacing_for
from ..engine.page import pairing_code_text
from ..engine.proxy import redact_proxy
from ..errors import SessionNotReady, ValidationError
from ..ops.activity import session_activity
from ..store import iso_utc
from ..vocabulary import Status
from . import docs
from .context import engine, manager, page
from .events import webhook_view
from .schemas import (
    DeleteQuery,
    KeepAliveIn,
    PacingIn,
    PairingIn,
    ProxyIn,
    SessionCreateIn,
    chat_id,
)

bp = APIBlueprint("sessions", __name__, tag="Sessions")


def shape(session, activity: dict | None = None) -> dict:
    data = session.snapshot()
    eng = engine()
    if data["browser"]:  # the numbers /performance shows: the watchdog's measurement
        mem = eng.watchdog.browser_memory(session.id) or {}
        data["browser"].update(rssMb=mem.get("rssMb"), pssMb=mem.get("pssMb"),
                               processes=mem.get("processes"))
    since = time.time() - (time.monotonic() - session.status_since)
    data["statusSince"] = iso_utc(since)
    data["activity"] = (activity or session_activity(eng.store, [session.id]))[session.id]
    data["pacing"] = pacing_for(current_app.config, session.options)
    data["keepAlive"] = bool(session.options.get("keepAlive"))
    data["webhook"] = webhook_view(session.options.get("webhook"))
    data.update(call_policy(current_app.config, session.options))
    data["proxy"] = redact_proxy(session.options.get("proxy"))
    return data


@bp.post("/sessions")
@bp.input(SessionCreateIn, arg_name="body")
@bp.doc(operation_id="createSession",
        summary="Create a session and start its browser",
        responses=docs.responses(docs.Session, 201, errors=(409, 503)))
def create_session(body):
    auth.require_session(body["id"])
    options = {k: v for k, v in body.items() if k != "id"}
    return shape(manager().create(body["id"], options)), 201


@bp.get("/sessions")
@bp.doc(operation_id="listSessions",
        summary="List sessions (a scoped API key sees its own)",
        responses=docs.responses(docs.SessionList))
def list_manager():
    sessions = [s for s in manager().list() if auth.allowed(s.id)]
    activity = session_activity(engine().store, [s.id for s in sessions])
    return {"data": [shape(s, activity) for s in sessions]}


@bp.get("/sessions/<session_id>")
@bp.doc(operation_id="getSession",
        summary="Get a session", responses=docs.responses(docs.Session))
def get_session(session_id):
    return shape(manager().get(session_id))


@bp.delete("/sessions/<session_id>")
@bp.input(DeleteQuery, location="query", arg_name="query")
@bp.doc(operation_id="deleteSession",
        summary="Stop a session (purge=true also deletes its stored login)",
        responses=docs.responses(docs.Session))
def delete_session(session_id, query):
    return manager().delete(session_id, purge=query["purge"])


@bp.post("/sessions/<session_id>/start")
@bp.doc(operation_id="startSession",
        summary="Start a STOPPED session from its stored login",
        responses=docs.responses(docs.Session, 202, errors=(503,)))
def start_session(session_id):
    return shape(manager().start(session_id)), 202


@bp.post("/sessions/<session_id>/reconnect")
@bp.doc(operation_id="reconnectSession",
        summary="Restart the session's browser, keeping the login",
        responses=docs.responses(docs.Session, 202, errors=(503,)))
def reconnect_session(session_id):
    return shape(manager().reconnect(session_id)), 202


@bp.post("/sessions/<session_id>/logout")
@bp.doc(operation_id="logoutSession",
        summary="Unlink the device; a new QR follows",
        responses=docs.responses(docs.Session, errors=docs.BROWSER_ERRORS))
def logout_session(session_id):
    page(session_id).logout()
    return shape(manager().get(session_id))


@bp.post("/sessions/<session_id>/takeover")
@bp.doc(operation_id="takeoverSession",
        summary="Use WhatsApp here again after it was opened in another window (CONFLICT)",
        description="Only in status CONFLICT (else 409 session_not_ready). The session returns "
                    "to CONNECTED once WhatsApp confirms (a session.status event).",
        responses=docs.responses(docs.Session, 202, errors=docs.BROWSER_ERRORS))
def takeover_session(session_id):
    session = manager().get(session_id)
    if session.status is not Status.CONFLICT:
        raise SessionNotReady(f"Session is {session.status.value}; only CONFLICT takes over",
                              details={"status": session.status.value})
    page(session_id, need_connected=False).takeover()
    return shape(manager().get(session_id)), 202


@bp.get("/sessions/<session_id>/qr")
@bp.doc(operation_id="getQr",
        summary="The QR to scan (Accept: image/png for a PNG)",
        responses=docs.responses(docs.QrCode, errors=(409,),
                                 also={"image/png": {"type": "string", "format": "binary"}}))
def get_qr(session_id):
    session = manager().get(session_id)
    qr, expires = session.qr, session.qr_expires_at
    if session.status is not Status.SCAN_QR or not qr:
        raise SessionNotReady(f"Session is {session.status.value}; no QR to scan",
                              details={"status": session.status.value})
    if request.accept_mimetypes.best_match(["application/json", "image/png"]) == "image/png":
        out = io.BytesIO()
        segno.make(qr, error="l").save(out, kind="png", scale=6, border=4)
        out.seek(0)
        return send_file(out, mimetype="image/png", max_age=0)
    return {"qr": qr, "expiresAt": iso_utc(expires)}


@bp.put("/sessions/<session_id>/pacing")
@bp.input(PacingIn, arg_name="body")
@bp.doc(operation_id="setPacing",
        summary="Override the session's send pacing (interval, jitter, daily cap, typing)",
        responses=docs.responses(docs.Pacing, errors=(404,)))
def put_pacing(session_id, body):
    session = manager().get(session_id)
    session = manager().update_options(session_id, pacing={**session.options.get("pacing", {}),
                                                           **body})
    return pacing_for(current_app.config, session.options)


@bp.get("/sessions/<session_id>/pacing")
@bp.doc(operation_id="getPacing",
        summary="The session's send pacing in force", responses=docs.responses(docs.Pacing, errors=(404,)))
def get_pacing(session_id):
    return pacing_for(current_app.config, manager().get(session_id).options)


@bp.put("/sessions/<session_id>/keep-alive")
@bp.input(KeepAliveIn, arg_name="body")
@bp.doc(operation_id="setKeepAlive",
        summary="Whether the session is exempt from the idle reaper",
        responses=docs.responses(docs.Session, errors=(404,)))
def put_keep_alive(session_id, body):
    return shape(manager().update_options(session_id, keepAlive=body["keepAlive"] or None))


@bp.put("/sessions/<session_id>/proxy")
@bp.input(ProxyIn, arg_name="body")
@bp.doc(operation_id="setProxy",
        summary="Route the session's browser through a proxy (null: directly); relaunches it",
        responses=docs.responses(docs.Session, 202, errors=(404, 503)))
def put_proxy(session_id, body):
    return shape(manager().set_proxy(session_id, body["proxy"])), 202


@bp.post("/sessions/<session_id>/pairing-code")
@bp.input(PairingIn, arg_name="body")
@bp.doc(operation_id="requestPairingCode",
        summary="Link by phone number instead of a QR: returns the code to type on the phone",
        responses=docs.responses(docs.PairingCode, errors=(409, 422, 502, 503, 504)))
def pairing_code(session_id, body):
    session = manager().get(session_id)
    if session.status is not Status.SCAN_QR:
        raise SessionNotReady(f"Session is {session.status.value}; it is linked or not ready",
                              details={"status": session.status.value})
    wid = chat_id(body["phone"], "phone")
    if not wid.endswith("@c.us"):
        raise ValidationError("phone must be a phone number", details={"field": "phone"})
    phone = wid.split("@")[0]
    return {"code": pairing_code_text(page(session_id, need_connected=False).pairing_code(phone))}


@bp.get("/sessions/<session_id>/pairing-code")
@bp.doc(operation_id="getPairingCode",
        summary="The pairing code in force (it is refreshed as WhatsApp expires it)",
        description="409 session_not_ready when no code was requested, the session is not in "
                    "SCAN_QR, or WhatsApp stopped refreshing it (request a new one).",
        responses=docs.responses(docs.PairingCode, errors=(409,)))
def get_pairing_code(session_id):
    session = manager().get(session_id)
    if session.status is not Status.SCAN_QR or not session.pairing_code:
        raise SessionNotReady(f"Session is {session.status.value}; no pairing code in force",
                              details={"status": session.status.value})
    return {"code": session.pairing_code}
