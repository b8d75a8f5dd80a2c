"""Between nodes only (cluster mode): a node adopts a session another hands it, and hands over
a profile. Every request must carry a valid cluster signature (forward.py); no client key
opens these routes."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from apiflask.validators import Length, OneOf
from flask import Response

from .. import forward
from ..errors import Forbidden
from .context import engine

bp = APIBlueprint("cluster", __name__, tag="Cluster")


class AdoptIn(Schema):
    source = String(required=True, data_key="from", validate=Length(min=1, max=200))
    reason = String(required=True, validate=OneOf(("move", "drain", "failover")))


def _signed() -> None:
    if not forward.verified():
        raise Forbidden("Only another node of the cluster may call this route")


@bp.post("/_cluster/sessions/<sid>/adopt")
@bp.input(AdoptIn, arg_name="body")
@bp.doc(hide=True)
def adopt(sid, body):
    _signed()
    return engine().adopt_session(sid, body["source"], body["reason"])


@bp.get("/_cluster/sessions/<sid>/profile")
@bp.doc(hide=True)
def profile(sid):
    _signed()
    return Response(engine().handed_profile(sid), content_type="application/gzip")
