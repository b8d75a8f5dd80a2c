"""Message routes: send text (media, location, reactions, chats follow the same pattern)."""

from __future__ import annotations

from apiflask import APIBlueprint

from . import manager
from .schemas import TextMessageIn, chat_id
from ..shapes import message

bp = APIBlueprint("messages", __name__, tag="Messages")


@bp.post("/sessions/<session_id>/messages")
@bp.input(TextMessageIn, arg_name="body")
def send_text(session_id, body):
    session = manager().get(session_id)
    mentions = [chat_id(m) for m in body.get("mentions", [])]
    sent = session.call("sendText", to=chat_id(body["to"]), text=body["text"],
                        replyTo=body.get("replyTo"), mentions=mentions)
    return message(sent), 201
