"""Event routes: the session's webhook, its deliveries, and the Server-Sent Events stream."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, g, request, stream_with_context

from .. import auth, shapes
from ..errors import ValidationError
from ..events.signing import generate_secret
from ..store import iso_utc
from . import docs
from .context import engine
from .schemas import DeliveriesQuery, RecentQuery, StreamQuery, WebhookPatchIn, WebhookPutIn

bp = APIBlueprint("events", __name__, tag="Webhooks and events")


@bp.put("/sessions/<session_id>/webhook")
@bp.input(WebhookPutIn, arg_name="body")
@bp.doc(operation_id="setWebhook",
        summary="Set the session's webhook", responses=docs.responses(docs.Webhook))
def put_webhook(session_id, body):
    generated = generate_secret() if body.pop("generateSecret", False) else None
    if generated:
        body["secret"] = generated
    view = shapes.webhook(engine().set_webhook(session_id, body))
    return {**view, "secret": generated} if generated else view


@bp.patch("/sessions/<session_id>/webhook")
@bp.input(WebhookPatchIn, arg_name="body")
@bp.doc(operation_id="updateWebhook",
        summary="Change the session's webhook; fields left out (the secret) are kept",
        responses=docs.responses(docs.Webhook, errors=(404,)))
def patch_webhook(session_id, body):
    merged = {**(engine().webhook(session_id) or {}), **body}
    if not merged.get("url"):
        raise ValidationError("The session has no webhook yet: give its url",
                              details={"field": "url"})
    return shapes.webhook(engine().set_webhook(session_id, merged))


@bp.get("/sessions/<session_id>/webhook")
@bp.doc(operation_id="getWebhook",
        summary="The session's webhook", responses=docs.responses(docs.Webhook))
def get_webhook(session_id):
    return shapes.webhook(engine().webhook(session_id))


@bp.delete("/sessions/<session_id>/webhook")
@bp.doc(operation_id="deleteWebhook",
        summary="Remove the session's webhook", responses=docs.responses(docs.Webhook))
def delete_webhook(session_id):
    engine().set_webhook(session_id, None)
    return shapes.webhook(None)


@bp.get("/sessions/<session_id>/webhook/deliveries")
@bp.input(DeliveriesQuery, location="query", arg_name="query")
@bp.doc(operation_id="listDeliveries",
        summary="Webhook deliveries, newest first", responses=docs.responses(docs.DeliveryList))
def list_deliveries(session_id, query):
    rows = engine().deliveries(session_id, query.get("status"), query["limit"])
    if scoped_key():  # an answer's body or a connection error would map the inside network
        rows = [{**r, "lastError": public_error(r["lastError"])} for r in rows]
    return {"data": rows}


def public_error(error: str | None) -> str | None:
    """What a scoped key sees of a failed delivery: `HTTP 403` (never the answer's body, which
    could be an inside service's), a refused address's class, or one generic line."""
    if not error:
        return error
    if error.startswith("HTTP "):
        return error.split(":", 1)[0]
    if error.startswith("AddressRefused: "):
        return "address not allowed"
    return "connection failed"


def scoped_key() -> bool:
    key = g.get("api_key")
    return key is not None and key.scope is not None


@bp.post("/sessions/<session_id>/webhook/deliveries/<event_id>/retry")
@bp.doc(operation_id="retryDelivery",
        summary="Deliver an event's failed webhook again now",
        responses=docs.responses(docs.Retried))
def retry_delivery(session_id, event_id):
    return {"retried": engine().retry_delivery(session_id, event_id)}


@bp.get("/sessions/<session_id>/events")
@bp.doc(operation_id="streamEvents",
        summary="Server-Sent Events of the session (resume with Last-Event-ID)",
        responses=docs.responses({"type": "string"}, content_type="text/event-stream",
                                 description="`id:` event id, `event:` type, `data:` an Event",
                                 errors=(422, 429)))
def stream_events(session_id):
    eng = engine()
    eng.touch(session_id)
    after = eng.resume_point(last_event_id(), session=session_id)
    return _sse(eng.sse(eng.event_reader(session_id), after, key=g.get("api_key")))


@bp.get("/sessions/<session_id>/events/recent")
@bp.input(RecentQuery, location="query", arg_name="query")
@bp.doc(operation_id="listRecentEvents",
        summary="The session's newest stored events, oldest first (a page, not a stream)",
        responses=docs.responses(docs.EventList))
def recent_events(session_id, query):
    return {"data": engine().recent_events(session_id, query["limit"])}


@bp.get("/events")
@bp.input(StreamQuery, location="query", arg_name="query")
@bp.doc(operation_id="streamAllEvents",
        summary="Server-Sent Events of every session the key may see (resume with Last-Event-ID)",
        responses=docs.responses({"type": "string"}, content_type="text/event-stream",
                                 description="`id:` event id, `event:` type, `data:` an Event",
                                 errors=(422, 429)))
def stream_all_events(query):
    read, resume, visible = all_sessions(query)
    return _sse(engine().sse(read, resume(last_event_id()), visible, g.get("api_key")))


def all_sessions(query: dict):
    """For a stream of every session the key may see (`?sessions=` narrows it, `?tail=` starts
    earlier): the reader of rows after a seq, resume(last_event_id) -> seq, and the row filter."""
    wanted = query.get("sessions")
    for session_id in wanted or ():
        auth.require_session(session_id)
    key = g.get("api_key")
    scoped = key is not None and key.scope is not None
    eng = engine()
    among = wanted or ([sid for sid in eng.session_ids() if key.allows(sid)] if scoped else None)
    return (eng.event_reader(among=wanted),
            lambda last_id: eng.resume_point(last_id, query.get("tail"), among),
            lambda row: key is None or key.allows(row["session"]))


@bp.post("/auth/stream-token")
@bp.doc(operation_id="createStreamToken",
        summary="A token for ?token= on the event streams (EventSource cannot send headers)",
        responses=docs.responses(docs.StreamToken))
def new_stream_token():
    token, expires = auth.stream_token(g.get("api_key"))
    return {"token": token, "expiresAt": iso_utc(expires), "ttlSeconds": auth.STREAM_TOKEN_TTL}


def last_event_id() -> str | None:
    return request.headers.get("Last-Event-ID") or request.args.get("lastEventId")


def _sse(chunks) -> Response:
    return Response(stream_with_context(chunks), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
