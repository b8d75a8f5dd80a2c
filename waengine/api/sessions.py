"""Session routes: create, list, inspect, stop or purge, start, reconnect, log out, QR, pairing
code, pacing, keep-alive, proxy and the account's online presence."""

from __future__ import annotations

import io

import segno
from apiflask import APIBlueprint
from flask import request, send_file

from .. import auth, forward
from ..errors import ValidationError
from ..store import iso_utc
from . import docs
from .context import engine, page
from .docs.chats import Presence
from .schemas import (
    DeleteQuery,
    KeepAliveIn,
    MoveIn,
    PacingIn,
    PairingIn,
    PresenceIn,
    ProxyIn,
    SessionCreateIn,
    chat_id,
)

bp = APIBlueprint("sessions", __name__, tag="Sessions")


@bp.post("/sessions")
@bp.input(SessionCreateIn, arg_name="body")
@bp.doc(operation_id="createSession",
        summary="Create a session and start its browser",
        responses=docs.responses(docs.Session, 201, errors=(409, 503)))
def create_session(body):
    auth.require_session(body["id"])
    options = {k: v for k, v in body.items() if k != "id"}
    return engine().create_session(body["id"], options), 201


@bp.get("/sessions")
@bp.doc(operation_id="listSessions",
        summary="List sessions (a scoped API key sees its own)",
        responses=docs.responses(docs.SessionList))
def list_sessions():
    return {"data": engine().describe_all(auth.allowed, local=forward.local_only())}


@bp.get("/sessions/<session_id>")
@bp.doc(operation_id="getSession",
        summary="Get a session", responses=docs.responses(docs.Session))
def get_session(session_id):
    return engine().describe(session_id)


@bp.delete("/sessions/<session_id>")
@bp.input(DeleteQuery, location="query", arg_name="query")
@bp.doc(operation_id="deleteSession",
        summary="Stop a session (purge=true also deletes its stored login)",
        responses=docs.responses(docs.Session))
def delete_session(session_id, query):
    return engine().delete_session(session_id, query["purge"])


@bp.post("/sessions/<session_id>/start")
@bp.doc(operation_id="startSession",
        summary="Start a STOPPED session from its stored login",
        responses=docs.responses(docs.Session, 202, errors=(503,)))
def start_session(session_id):
    return engine().start_session(session_id), 202


@bp.post("/sessions/<session_id>/move")
@bp.input(MoveIn, arg_name="body")
@bp.doc(operation_id="moveSession",
        summary="Move the session to another node of the cluster (its login goes with it)",
        responses=docs.responses(docs.Session, errors=(404, 409, 503)))
def move_session(session_id, body):
    return engine().move_session(session_id, body.get("node"))


@bp.post("/sessions/<session_id>/reconnect")
@bp.doc(operation_id="reconnectSession",
        summary="Restart the session's browser, keeping the login",
        responses=docs.responses(docs.Session, 202, errors=(503,)))
def reconnect_session(session_id):
    return engine().reconnect_session(session_id), 202


@bp.post("/sessions/<session_id>/logout")
@bp.doc(operation_id="logoutSession",
        summary="Unlink the device; a new QR follows",
        responses=docs.responses(docs.Session, errors=docs.BROWSER_ERRORS))
def logout_session(session_id):
    return engine().logout(session_id)


@bp.post("/sessions/<session_id>/takeover")
@bp.doc(operation_id="takeoverSession",
        summary="Use WhatsApp here again after it was opened in another window (CONFLICT)",
        description="Only in status CONFLICT (else 409 session_not_ready). The session returns "
                    "to CONNECTED once WhatsApp confirms (a session.status event).",
        responses=docs.responses(docs.Session, 202, errors=docs.BROWSER_ERRORS))
def takeover_session(session_id):
    return engine().takeover(session_id), 202


@bp.get("/sessions/<session_id>/qr")
@bp.doc(operation_id="getQr",
        summary="The QR to scan (Accept: image/png for a PNG)",
        responses=docs.responses(docs.QrCode, errors=(409,),
                                 also={"image/png": {"type": "string", "format": "binary"}}))
def get_qr(session_id):
    qr, expires = engine().qr(session_id)
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
    return engine().set_pacing(session_id, body)


@bp.get("/sessions/<session_id>/pacing")
@bp.doc(operation_id="getPacing",
        summary="The session's send pacing in force", responses=docs.responses(docs.Pacing, errors=(404,)))
def get_pacing(session_id):
    return engine().pacing(session_id)


@bp.put("/sessions/<session_id>/keep-alive")
@bp.input(KeepAliveIn, arg_name="body")
@bp.doc(operation_id="setKeepAlive",
        summary="Whether the session is exempt from the idle reaper",
        responses=docs.responses(docs.Session, errors=(404,)))
def put_keep_alive(session_id, body):
    return engine().set_keep_alive(session_id, body["keepAlive"])


@bp.put("/sessions/<session_id>/proxy")
@bp.input(ProxyIn, arg_name="body")
@bp.doc(operation_id="setProxy",
        summary="Route the session's browser through a proxy (null: directly); relaunches it",
        responses=docs.responses(docs.Session, 202, errors=(404, 503)))
def put_proxy(session_id, body):
    return engine().set_proxy(session_id, body["proxy"]), 202


@bp.post("/sessions/<session_id>/pairing-code")
@bp.input(PairingIn, arg_name="body")
@bp.doc(operation_id="requestPairingCode",
        summary="Link by phone number instead of a QR: returns the code to type on the phone",
        responses=docs.responses(docs.PairingCode, errors=(409, 422, 502, 503, 504)))
def pairing_code(session_id, body):
    # The number is read after the status check: a linked session answers 409 whatever it is.
    return {"code": engine().request_pairing_code(session_id, lambda: phone_digits(body["phone"]))}


def phone_digits(phone: str) -> str:
    wid = chat_id(phone, "phone")
    if not wid.endswith("@c.us"):
        raise ValidationError("phone must be a phone number", details={"field": "phone"})
    return wid.split("@")[0]


@bp.get("/sessions/<session_id>/pairing-code")
@bp.doc(operation_id="getPairingCode",
        summary="The pairing code in force (it is refreshed as WhatsApp expires it)",
        description="409 session_not_ready when no code was requested, the session is not in "
                    "SCAN_QR, or WhatsApp stopped refreshing it (request a new one).",
        responses=docs.responses(docs.PairingCode, errors=(409,)))
def get_pairing_code(session_id):
    return {"code": engine().pairing_code(session_id)}


@bp.put("/sessions/<session_id>/presence")
@bp.input(PresenceIn, arg_name="body")
@bp.doc(operation_id="setPresence", tags=["Sessions"],
        summary="Show the account as online (available) or offline",
        responses=docs.responses(Presence, errors=docs.BROWSER_ERRORS))
def set_presence(session_id, body):
    return page(session_id).set_available(body["available"])
