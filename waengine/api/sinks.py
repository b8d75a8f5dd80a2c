"""Sink routes: the session's own event sinks (RabbitMQ, NATS JetStream, Redis Streams, SQS)."""

from __future__ import annotations

from apiflask import APIBlueprint

from . import docs
from .context import engine
from .schemas import SinksPutIn

bp = APIBlueprint("sinks", __name__, tag="Webhooks and events")


@bp.put("/sessions/<session_id>/sinks")
@bp.input(SinksPutIn, arg_name="body")
@bp.doc(operation_id="setSinks",
        summary="Set the session's event sinks (replaces them; [] removes them)",
        responses=docs.responses(docs.Sinks, errors=(404,)))
def put_sinks(session_id, body):
    return engine().set_sinks(session_id, body["sinks"])


@bp.get("/sessions/<session_id>/sinks")
@bp.doc(operation_id="getSinks",
        summary="The session's event sinks and the gateway-wide ones, secrets masked",
        responses=docs.responses(docs.Sinks, errors=(404,)))
def get_sinks(session_id):
    return engine().sinks(session_id)
