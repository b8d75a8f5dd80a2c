"""WebSocket event routes: the same events as the SSE streams, one JSON text frame each."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import g, request

from ..errors import UpgradeRequired
from . import docs
from .context import engine
from .events import all_sessions, last_event_id
from .schemas import StreamQuery

bp = APIBlueprint("ws", __name__, tag="Webhooks and events")

_FRAMES = ("WebSocket (`Upgrade: websocket`). Each text frame is one Event, the JSON of an SSE "
           "`data:`. The first client frame may be `{\"lastEventId\": \"evt_…\"}` to resume "
           "after that event (or `{}`); close codes: 1001 server stopping, 1008 ping timeout, "
           "4008 slow consumer, 4400 bad first frame, 4422 unknown lastEventId (docs/api.md)")

# A 101 has no body: what follows is WebSocket frames, described above.
_UPGRADED = {101: {"description": "Switching Protocols: the connection is now the WebSocket",
                   "headers": {"Upgrade": {"schema": {"type": "string", "const": "websocket"}}}},
             **docs.responses(errors=(422, 426, 429))}
_UPGRADED.pop(200)


@bp.get("/sessions/<session_id>/ws", websocket=True)
@bp.doc(operation_id="streamEventsWebSocket",
        summary="The session's events over a WebSocket (resume with lastEventId)",
        description=_FRAMES,
        responses=_UPGRADED)
def session_socket(session_id):
    eng = engine()
    eng.touch(session_id)
    return eng.websocket(request.environ, eng.event_reader(session_id),
                         eng.resume_point(last_event_id()), eng.resume_point,
                         key=g.get("api_key"))


@bp.get("/ws", websocket=True)
@bp.input(StreamQuery, location="query", arg_name="query")
@bp.doc(operation_id="streamAllEventsWebSocket",
        summary="Events of every session the key may see over a WebSocket (`?sessions=` narrows)",
        description=_FRAMES,
        responses=_UPGRADED)
def all_sockets(query):
    read, resume, visible = all_sessions(query)
    return engine().websocket(request.environ, read, resume(last_event_id()), resume, visible,
                              g.get("api_key"))


@bp.get("/ws")
@bp.get("/sessions/<session_id>/ws")
@bp.doc(hide=True)
def not_a_websocket(session_id=None):
    # werkzeug matches only Upgrade requests to a websocket=True rule: a plain GET lands here
    # and gets a clear 426 instead of werkzeug's bare 400.
    raise UpgradeRequired(headers={"Upgrade": "websocket"})
