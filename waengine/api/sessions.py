"""Session routes: create, list, inspect, stop or purge, start, reconnect, log out, QR."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import segno
from apiflask import APIBlueprint
from flask import request, send_file

from ..engine.browser import browser_memory
from ..errors import SessionNotReady
from . import manager
from .schemas import DeleteQuery, SessionCreateIn

bp = APIBlueprint("sessions", __name__, tag="Sessions")


def shape(session) -> dict:
    data = session.snapshot()
    if data["browser"]:
        data["browser"]["rssMb"] = browser_memory(data["browser"]["pid"])
    return data


@bp.post("/sessions")
@bp.input(SessionCreateIn, arg_name="body")
def create_session(body):
    options = {k: v for k, v in body.items() if k != "id"}
    return shape(manager().create(body["id"], options)), 201


@bp.get("/sessions")
def list_manager():
    return {"data": [shape(s) for s in manager().list()]}


@bp.get("/sessions/<session_id>")
def get_session(session_id):
    return shape(manager().get(session_id))


@bp.delete("/sessions/<session_id>")
@bp.input(DeleteQuery, location="query", arg_name="query")
def delete_session(session_id, query):
    return manager().delete(session_id, purge=query["purge"])


@bp.post("/sessions/<session_id>/start")
def start_session(session_id):
    return shape(manager().start(session_id)), 202


@bp.post("/sessions/<session_id>/reconnect")
def reconnect_session(session_id):
    return shape(manager().reconnect(session_id)), 202


@bp.post("/sessions/<session_id>/logout")
def logout_session(session_id):
    session = manager().get(session_id)
    session.call("logout")
    return shape(session)


@bp.get("/sessions/<session_id>/qr")
def get_qr(session_id):
    session = manager().get(session_id)
    qr, expires = session.qr, session.qr_expires_at
    if session.status.value != "SCAN_QR" or not qr:
        raise SessionNotReady(f"Session is {session.status.value}; no QR to scan",
                              details={"status": session.status.value})
    if request.accept_mimetypes.best_match(["application/json", "image/png"]) == "image/png":
        out = io.BytesIO()
        segno.make(qr, error="l").save(out, kind="png", scale=6, border=4)
        out.seek(0)
        return send_file(out, mimetype="image/png", max_age=0)
    expires_at = datetime.fromtimestamp(expires, timezone.utc).isoformat(timespec="seconds")
    return {"qr": qr, "expiresAt": expires_at.replace("+00:00", "Z")}
