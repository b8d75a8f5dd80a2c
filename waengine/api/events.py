"""Event routes: the session's webhook, its deliveries, and the Server-Sent Events stream."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, request, stream_with_context

from ..errors import NotFound, TooManyRequests, ValidationError
from ..events.signing import generate_secret
from . import docs, engine, manager
from .schemas import DeliveriesQuery, WebhookPutIn

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
    return {"data": rows}


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
    outbox = hub.outbox
    last_id = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    after = outbox.seq_of(last_id) if last_id else outbox.last_seq
    if after is None:
        raise ValidationError(f"Unknown Last-Event-ID {last_id!r}", details={"field": "Last-Event-ID"})
    # Each stream holds a gthread worker thread: cap them so API calls always find one.
    if not hub.streams.acquire(blocking=False):
        raise TooManyRequests("Too many event streams are open", headers={"Retry-After": "5"})
    keepalive = engine().config["SSE_KEEPALIVE"]

    def generate(after=after):
        try:
            yield "retry: 2000\n\n"
            while True:
                seen = outbox.last_seq
                rows = outbox.since(session_id, after)
                for row in rows:
                    after = row["seq"]
                    yield f"id: {row['id']}\nevent: {row['type']}\ndata: {row['body']}\n\n"
                if not rows and not outbox.wait(seen, keepalive):
                    yield ": keepalive\n\n"  # also how a closed client is noticed
        finally:
            hub.streams.release()

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
