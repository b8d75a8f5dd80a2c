"""Event routes: the session's webhook, its deliveries, and the Server-Sent Events stream."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, g, request, stream_with_context

from ..errors import NotFound, ServiceUnavailable, TooManyRequests, ValidationError
from . import docs, engine, manager
from .schemas import DeliveriesQuery, WebhookIn

bp = APIBlueprint("events", __name__, tag="Events")


def webhook_view(hook: dict | None) -> dict:
    if not hook:
        return {"url": None, "events": [], "hasSecret": False}
    return {"url": hook["url"], "events": hook.get("events") or [],
            "hasSecret": bool(hook.get("secret"))}


@bp.put("/sessions/<session_id>/webhook")
@bp.input(WebhookIn, arg_name="body")
@bp.doc(summary="Set the session's webhook", responses=docs.responses(docs.Webhook))
def put_webhook(session_id, body):
    session = manager().update_options(session_id, webhook=body)
    return webhook_view(session.options.get("webhook"))


@bp.get("/sessions/<session_id>/webhook")
@bp.doc(summary="The session's webhook", responses=docs.responses(docs.Webhook))
def get_webhook(session_id):
    return webhook_view(manager().get(session_id).options.get("webhook"))


@bp.delete("/sessions/<session_id>/webhook")
@bp.doc(summary="Remove the session's webhook", responses=docs.responses(docs.Webhook))
def delete_webhook(session_id):
    manager().update_options(session_id, webhook=None)
    return webhook_view(None)


@bp.get("/sessions/<session_id>/webhook/deliveries")
@bp.input(DeliveriesQuery, location="query", arg_name="query")
@bp.doc(summary="Webhook deliveries, newest first", responses=docs.responses(docs.DeliveryList))
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
@bp.doc(summary="Deliver an event's failed webhook again now",
        responses=docs.responses(docs.Retried))
def retry_delivery(session_id, event_id):
    manager().get(session_id)
    count = engine().events.outbox.retry(session_id, event_id)
    if not count:
        raise NotFound(f"No undelivered webhook for event {event_id!r}")
    return {"retried": count}


@bp.get("/sessions/<session_id>/events")
@bp.doc(summary="Server-Sent Events of the session (resume with Last-Event-ID)",
        responses=docs.responses({"type": "string"}, content_type="text/event-stream",
                                 description="`id:` event id, `event:` type, `data:` an Event",
                                 errors=(422, 429)))
def stream_events(session_id):
    manager().get(session_id).touch()
    hub = engine().events
    outbox = hub.outbox
    last_id = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    after = outbox.seq_of(last_id, session_id) if last_id else outbox.last_seq
    if after is None:
        raise ValidationError(f"Unknown Last-Event-ID {last_id!r}", details={"field": "Last-Event-ID"})
    if hub.closing.is_set():
        raise ServiceUnavailable("The gateway is shutting down", headers={"Retry-After": "2"})
    # Each stream holds a gthread worker thread: cap them so API calls always find one.
    if not hub.streams.acquire(blocking=False):
        raise TooManyRequests("Too many event streams are open", headers={"Retry-After": "5"})
    keepalive = engine().config["SSE_KEEPALIVE"]

    def generate(after=after):
        try:
            yield "retry: 2000\n\n"
            while not hub.closing.is_set():
                seen = outbox.last_seq
                rows = outbox.since(session_id, after)
                for row in rows:
                    after = row["seq"]
                    yield f"id: {row['id']}\nevent: {row['type']}\ndata: {row['body']}\n\n"
                if not rows and not outbox.wait(seen, keepalive, hub.closing):
                    yield ": keepalive\n\n"  # also how a closed client is noticed
            # Shutting down: say so, so the client reconnects (Last-Event-ID) elsewhere or later.
            yield 'event: shutdown\ndata: {"reason":"shutdown","retryAfter":2}\n\n'
        finally:
            hub.streams.release()

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
