"""Event routes: the session's webhook, its deliveries, and the Server-Sent Events stream."""

from __future__ import annotations

from datetime import datetime, timezone

from apiflask import APIBlueprint
from flask import Response, g, request, stream_with_context

from .. import auth
from ..errors import NotFound, TooManyRequests, ValidationError
from . import docs, engine, manager
from .schemas import DeliveriesQuery, StreamQuery, WebhookIn, WebhookPatchIn

bp = APIBlueprint("events", __name__, tag="Events")


def iso_time(epoch_seconds: float) -> str:
    return (datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(timespec="seconds")
            .replace("+00:00", "Z"))


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


@bp.patch("/sessions/<session_id>/webhook")
@bp.input(WebhookPatchIn, arg_name="body")
@bp.doc(summary="Change the session's webhook; fields left out (the secret) are kept",
        responses=docs.responses(docs.Webhook, errors=(404,)))
def patch_webhook(session_id, body):
    merged = {**(manager().get(session_id).options.get("webhook") or {}), **body}
    if not merged.get("url"):
        raise ValidationError("The session has no webhook yet: give its url",
                              details={"field": "url"})
    return webhook_view(manager().update_options(session_id, webhook=merged).options["webhook"])


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
    return {"data": rows}


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
    after = _resume_point()
    return _stream(lambda after: engine().events.outbox.since(session_id, after), after)


@bp.get("/events")
@bp.input(StreamQuery, location="query", arg_name="query")
@bp.doc(summary="Server-Sent Events of every session the key may see (resume with Last-Event-ID)",
        responses=docs.responses({"type": "string"}, content_type="text/event-stream",
                                 description="`id:` event id, `event:` type, `data:` an Event",
                                 errors=(422, 429)))
def stream_all_events(query):
    wanted = query.get("sessions")
    for session_id in wanted or ():
        auth.require_session(session_id)
    key = g.get("api_key")
    scoped = key is not None and key.scope is not None
    among = wanted or ([s.id for s in manager().list() if key.allows(s.id)] if scoped else None)
    outbox = engine().events.outbox
    after = _resume_point(tail=query.get("tail"), among=among)
    return _stream(lambda after: outbox.since_any(wanted, after), after,
                   visible=lambda row: key is None or key.allows(row["session"]))


@bp.post("/auth/stream-token")
@bp.doc(summary="A token for ?token= on the event streams (EventSource cannot send headers)",
        responses=docs.responses(docs.StreamToken))
def new_stream_token():
    token, expires = auth.stream_token(g.get("api_key"))
    return {"token": token, "expiresAt": iso_time(expires), "ttlSeconds": auth.STREAM_TOKEN_TTL}


def _resume_point(tail: int | None = None, among: list[str] | None = None) -> int:
    """The sequence number after which a stream starts: Last-Event-ID, a tail, or now."""
    outbox = engine().events.outbox
    last_id = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    if not last_id:
        return outbox.seq_before_last(among, tail) if tail else outbox.last_seq
    after = outbox.seq_of(last_id)
    if after is None:
        raise ValidationError(f"Unknown Last-Event-ID {last_id!r}", details={"field": "Last-Event-ID"})
    return after


def _stream(read, after: int, visible=lambda row: True) -> Response:
    """An SSE response of the visible read(after_seq) rows, waiting on the outbox between batches."""
    hub = engine().events
    outbox = hub.outbox
    # Each stream holds a gthread worker thread: cap them so API calls always find one.
    if not hub.streams.acquire(blocking=False):
        raise TooManyRequests("Too many event streams are open", headers={"Retry-After": "5"})
    keepalive = engine().config["SSE_KEEPALIVE"]

    def generate(after=after):
        try:
            yield "retry: 2000\n\n"
            while True:
                seen = outbox.last_seq
                rows = read(after)
                for row in rows:
                    after = row["seq"]
                    if visible(row):
                        yield f"id: {row['id']}\nevent: {row['type']}\ndata: {row['body']}\n\n"
                if not rows and not outbox.wait(seen, keepalive):
                    yield ": keepalive\n\n"  # also how a closed client is noticed
        finally:
            hub.streams.release()

    return Response(stream_with_context(generate()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
