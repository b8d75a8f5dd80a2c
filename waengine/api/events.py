"""Event routes: the session's webhook, its deliveries, and the Server-Sent Events stream."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, g, request, stream_with_context

from .. import auth
from ..errors import NotFound, ValidationError
from ..events.signing import generate_secret
from ..store import iso_utc
from . import docs
from .context import engine, manager
from .schemas import DeliveriesQuery, RecentQuery, StreamQuery, WebhookPatchIn, WebhookPutIn

bp = APIBlueprint("events", __name__, tag="Webhooks and events")


def webhook_view(hook: dict | None) -> dict:
    if not hook:
        return {"url": None, "events": [], "hasSecret": False}
    return {"url": hook["url"], "events": hook.get("events") or [],
            "hasSecret": bool(hook.get("secret"))}


@bp.put("/sessions/<session_id>/webhook")
@bp.input(WebhookPutIn, arg_name="body")
@bp.doc(operation_id="setWebhook",
        summary="Set the session's webhook", responses=docs.responses(docs.Webhook))
def put_webhook(session_id, body):
    generated = generate_secret() if body.pop("generateSecret", False) else None
    if generated:
        body["secret"] = generated
    session = manager().update_options(session_id, webhook=body)
    view = webhook_view(session.options.get("webhook"))
    return {**view, "secret": generated} if generated else view


@bp.patch("/sessions/<session_id>/webhook")
@bp.input(WebhookPatchIn, arg_name="body")
@bp.doc(operation_id="updateWebhook",
        summary="Change the session's webhook; fields left out (the secret) are kept",
        responses=docs.responses(docs.Webhook, errors=(404,)))
def patch_webhook(session_id, body):
    merged = {**(manager().get(session_id).options.get("webhook") or {}), **body}
    if not merged.get("url"):
        raise ValidationError("The session has no webhook yet: give its url",
                              details={"field": "url"})
    return webhook_view(manager().update_options(session_id, webhook=merged).options["webhook"])


@bp.get("/sessions/<session_id>/webhook")
@bp.doc(operation_id="getWebhook",
        summary="The session's webhook", responses=docs.responses(docs.Webhook))
def get_webhook(session_id):
    return webhook_view(manager().get(session_id).options.get("webhook"))


@bp.delete("/sessions/<session_id>/webhook")
@bp.doc(operation_id="deleteWebhook",
        summary="Remove the session's webhook", responses=docs.responses(docs.Webhook))
def delete_webhook(session_id):
    manager().update_options(session_id, webhook=None)
    return webhook_view(None)


@bp.get("/sessions/<session_id>/webhook/deliveries")
@bp.input(DeliveriesQuery, location="query", arg_name="query")
@bp.doc(operation_id="listDeliveries",
        summary="Webhook deliveries, newest first", responses=docs.responses(docs.DeliveryList))
def list_deliveries(session_id, query):
    manager().get(session_id)
    rows = engine().events.outbox.deliveries(session_id, query.get("status"), query["limit"])
    if scoped_key():  # a connection error names hosts and ports: a port scanner for tenants
        rows = [{**r, "lastError": public_error(r["lastError"])} for r in rows]
    return {"data": rows}


def public_error(error: str | None) -> str | None:
    """HTTP statuses as they are; any network error as one generic line."""
    if not error or error.startswith("HTTP "):
        return error
    return "connection failed"


def scoped_key() -> bool:
    key = g.get("api_key")
    return key is not None and key.scope is not None


@bp.post("/sessions/<session_id>/webhook/deliveries/<event_id>/retry")
@bp.doc(operation_id="retryDelivery",
        summary="Deliver an event's failed webhook again now",
        responses=docs.responses(docs.Retried))
def retry_delivery(session_id, event_id):
    manager().get(session_id)
    count = engine().events.outbox.retry(session_id, event_id)
    if not count:
        raise NotFound(f"No undelivered webhook for event {event_id!r}")
    return {"retried": count}


@bp.get("/sessions/<session_id>/events")
@bp.doc(operation_id="streamEvents",
        summary="Server-Sent Events of the session (resume with Last-Event-ID)",
        responses=docs.responses({"type": "string"}, content_type="text/event-stream",
                                 description="`id:` event id, `event:` type, `data:` an Event",
                                 errors=(422, 429)))
def stream_events(session_id):
    manager().get(session_id).touch()
    hub = engine().events
    after = hub.resume_point(last_event_id(), session=session_id)
    return _sse(hub.stream(lambda after: hub.outbox.since(session_id, after), after))


@bp.get("/sessions/<session_id>/events/recent")
@bp.input(RecentQuery, location="query", arg_name="query")
@bp.doc(operation_id="listRecentEvents",
        summary="The session's newest stored events, oldest first (a page, not a stream)",
        responses=docs.responses(docs.EventList))
def recent_events(session_id, query):
    manager().get(session_id)
    return {"data": engine().events.outbox.recent(session_id, query["limit"])}


@bp.get("/events")
@bp.input(StreamQuery, location="query", arg_name="query")
@bp.doc(operation_id="streamAllEvents",
        summary="Server-Sent Events of every session the key may see (resume with Last-Event-ID)",
        responses=docs.responses({"type": "string"}, content_type="text/event-stream",
                                 description="`id:` event id, `event:` type, `data:` an Event",
                                 errors=(422, 429)))
def stream_all_events(query):
    hub = engine().events
    read, resume, visible = all_sessions(query)
    return _sse(hub.stream(read, resume(last_event_id()), visible))


def all_sessions(query: dict):
    """For a stream of every session the key may see (`?sessions=` narrows it, `?tail=` starts
    earlier): the reader of rows after a seq, resume(last_event_id) -> seq, and the row filter."""
    wanted = query.get("sessions")
    for session_id in wanted or ():
        auth.require_session(session_id)
    key = g.get("api_key")
    scoped = key is not None and key.scope is not None
    among = wanted or ([s.id for s in manager().list() if key.allows(s.id)] if scoped else None)
    outbox = engine().events.outbox
    return (lambda after: outbox.since_any(wanted, after),
            lambda last_id: engine().events.resume_point(last_id, query.get("tail"), among),
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
