"""Message routes: text, media, voice, stickers, location, contacts, polls, bulk, the send
queue, and actions on a message (react, delete, edit, forward, star, pin)."""

from __future__ import annotations

import re
from collections.abc import Callable

from apiflask import APIBlueprint
from flask import current_app, request

from .. import shapes, uploads
from ..engine.page import (
    SendOp,
    contact_args,
    file_args,
    location_args,
    poll_args,
    text_args,
)
from ..errors import ValidationError, rebuild_error
from ..vocabulary import SendStatus
from . import docs
from .context import engine, page
from .docs.messages import StoredMessages
from .schemas import (
    RECIPIENT_PATTERN,
    BulkIn,
    ContactIn,
    EditIn,
    ForwardIn,
    HistoryQuery,
    LocationIn,
    MediaFormIn,
    MediaJSONIn,
    MessageDeleteQuery,
    PinIn,
    PollIn,
    ReactionIn,
    StarIn,
    TextMessageIn,
    chat_id,
    message_id,
    user_id,
)

bp = APIBlueprint("messages", __name__, tag="Messages")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")
# 201 once sent; 202 while the pacer still holds it (queued, never dropped); 429 at the daily cap.
SENT = {**docs.responses(docs.Message, 201, errors=(429, *docs.BROWSER_ERRORS)),
        **docs.responses(docs.Queued, 202, description="Queued behind the session's pacing")}


def send(session_id: str, op: SendOp, args: dict | Callable[[], dict]) -> tuple[dict, int]:
    """Send through the session's paced queue: 201 with the message once WhatsApp stored it,
    202 with the queue entry while pacing still holds it back (it is never dropped).

    `args` may be a function reading an upload: it runs once the session is known ready."""
    key = idempotency_key()
    row = engine().send(session_id, op, args, key)
    return queued_response(row)


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationError("Idempotency-Key must be 1-128 printable ASCII characters",
                              details={"field": "Idempotency-Key"})
    return key


def queued_response(row: dict) -> tuple[dict, int]:
    if row["status"] == SendStatus.SENT:
        return {**shapes.message(row["message"]), "queueId": row["id"]}, 201
    if row["status"] == SendStatus.FAILED:
        raise rebuild_error(row["error"])
    return shapes.outgoing_view(row), 202


@bp.post("/sessions/<session_id>/messages")
@bp.input(TextMessageIn, arg_name="body")
@bp.doc(operation_id="sendText",
        summary="Send a text (optionally a reply, with mentions)", responses=SENT)
def send_text(session_id, body):
    mentions = [user_id(m, "mentions") for m in body.get("mentions", [])]
    return send(session_id, SendOp.TEXT, text_args(chat_id(body["to"]), body["text"],
                                                   body.get("replyTo"), mentions))


@bp.get("/sessions/<session_id>/messages")
@bp.input(HistoryQuery, location="query", arg_name="query")
@bp.doc(operation_id="listStoredMessages",
        summary="Page and search the session's stored message history, newest first",
        description="Every message the gateway saw or sent, kept HISTORY_DAYS (the session's "
                    "historyDays), with its ack, edits and revoke; read from the gateway's "
                    "store, so a stopped session's history pages too. Filters combine; page "
                    "with `before=<next>`.",
        responses=docs.responses(StoredMessages, errors=(404, 422)))
def list_stored_messages(session_id, query):
    chat = chat_id(query["chat"], "chat") if "chat" in query else None
    return engine().message_history(
        session_id, chat=chat, before=query.get("before"), after=query.get("after"),
        q=query.get("q"), type_=query.get("type"), limit=query["limit"])


@bp.post("/sessions/<session_id>/messages/media")
@bp.doc(operation_id="sendMedia",
        summary="Send a file: multipart (to, caption, file) or JSON with base64 media",
        description="At most UPLOAD_MAX_BYTES (16 MB); jpg jpeg png gif bmp webp pdf doc docx "
                    "xls xlsx txt mp3 ogg mp4, checked by extension and by content.",
        responses={**SENT, **docs.responses(docs.Message, 201,
                                            errors=(413, 415, 429, *docs.BROWSER_ERRORS))})
def send_media(session_id):
    def read() -> dict:  # after the readiness check: 404/409 before a 16 MB body is read
        media = uploads.read_media(request, current_app.config, MediaFormIn(), MediaJSONIn())
        return file_args(chat_id(media.fields["to"]), media.data_url(), media.filename,
                         media.mimetype, media.file_type.kind, media.fields.get("caption"))
    return send(session_id, SendOp.FILE, read)


@bp.post("/sessions/<session_id>/messages/voice")
@bp.doc(operation_id="sendVoice",
        summary="Send a voice note: an Ogg/Opus .ogg file (multipart or JSON base64)",
        description="Checked by extension and content (Ogg with an Opus stream); queued and "
                    "paced like other sends. A caption is ignored: voice notes have none.",
        responses={**SENT, **docs.responses(docs.Message, 201,
                                            errors=(413, 415, 429, *docs.BROWSER_ERRORS))})
def send_voice(session_id):
    def read() -> dict:
        media = uploads.read_voice(request, current_app.config, MediaFormIn(), MediaJSONIn())
        return file_args(chat_id(media.fields["to"]), media.data_url(), media.filename,
                         "audio/ogg; codecs=opus", "ptt")
    return send(session_id, SendOp.FILE, read)


@bp.post("/sessions/<session_id>/messages/sticker")
@bp.doc(operation_id="sendSticker",
        summary="Send a sticker: a .webp file of at most 1 MB (multipart or JSON base64)",
        description="Checked by extension and content (RIFF/WEBP); queued and paced like other "
                    "sends. A caption is ignored: stickers have none.",
        responses={**SENT, **docs.responses(docs.Message, 201,
                                            errors=(413, 415, 429, *docs.BROWSER_ERRORS))})
def send_sticker(session_id):
    def read() -> dict:
        media = uploads.read_sticker(request, current_app.config, MediaFormIn(), MediaJSONIn())
        return file_args(chat_id(media.fields["to"]), media.data_url(), media.filename,
                         media.mimetype, "sticker")
    return send(session_id, SendOp.FILE, read)


@bp.post("/sessions/<session_id>/messages/bulk")
@bp.input(BulkIn, arg_name="body")
@bp.doc(operation_id="sendBulk",
        summary="Queue texts to many recipients through the session's pacer",
        description="Each send is stored before this answers (202) and survives a restart; "
                    "follow each with GET …/messages/{id} or the message.status event.",
        responses=docs.responses(docs.QueuedList, 202, errors=(429, *docs.BROWSER_ERRORS)))
def send_bulk(session_id, body):
    rows = engine().queue_many(session_id, SendOp.TEXT, [
        text_args(chat_id(m["to"]), m["text"]) for m in body["messages"]])
    return {"data": [shapes.outgoing_view(r) for r in rows]}, 202


@bp.get("/sessions/<session_id>/messages/<messageId>")
@bp.doc(operation_id="getSendStatus",
        summary="Where a send is: queued, sent (with the message) or failed (with the error)",
        description="By the queue id (out_…) the send answered with, or the WhatsApp message "
                    "id. A group send lists each member's receipt (delivered, read).",
        responses=docs.responses(docs.Queued, errors=(404,)))
def get_send(session_id, messageId):
    return shapes.outgoing_view(engine().send_status(session_id, messageId))


@bp.post("/sessions/<session_id>/messages/location")
@bp.input(LocationIn, arg_name="body")
@bp.doc(operation_id="sendLocation",
        summary="Send a location", responses=SENT)
def send_location(session_id, body):
    return send(session_id, SendOp.LOCATION, location_args(**{**body, "to": chat_id(body["to"])}))


@bp.post("/sessions/<session_id>/messages/contact")
@bp.input(ContactIn, arg_name="body")
@bp.doc(operation_id="sendContactCards",
        summary="Send contact cards (vCards): one, or up to 20 in one message", responses=SENT)
def send_contact(session_id, body):
    cards = [{**c, "id": user_id(c["id"], "contacts")} for c in body["contacts"]]
    return send(session_id, SendOp.CONTACT, contact_args(chat_id(body["to"]), cards))


@bp.post("/sessions/<session_id>/messages/poll")
@bp.input(PollIn, arg_name="body")
@bp.doc(operation_id="sendPoll",
        summary="Send a poll (2 to 12 options); votes arrive as poll.vote events",
        responses=SENT)
def send_poll(session_id, body):
    return send(session_id, SendOp.POLL, poll_args(chat_id(body["to"]), body["name"],
                                                   body["options"], body["selectableCount"]))


@bp.post("/sessions/<session_id>/messages/<messageId>/reaction")
@bp.input(ReactionIn, arg_name="body")
@bp.doc(operation_id="reactToMessage",
        summary="React to a message (an empty emoji removes the reaction)",
        responses=docs.responses(docs.Reaction, errors=docs.BROWSER_ERRORS))
def react(session_id, messageId, body):
    return page(session_id).react(message_id(messageId), body["emoji"])


@bp.delete("/sessions/<session_id>/messages/<messageId>")
@bp.input(MessageDeleteQuery, location="query", arg_name="query")
@bp.doc(operation_id="deleteMessage",
        summary="Delete a message here, or for everyone (forEveryone=true, own messages)",
        description="422 `not_own_message` for someone else's message with forEveryone; "
                    "a message.revoked event follows a delete for everyone.",
        responses=docs.responses(docs.Deleted, errors=(404, 422, *docs.BROWSER_ERRORS)))
def delete_message(session_id, messageId, query):
    return page(session_id).delete_message(message_id(messageId), query["forEveryone"])


@bp.patch("/sessions/<session_id>/messages/<messageId>")
@bp.input(EditIn, arg_name="body")
@bp.doc(operation_id="editMessage",
        summary="Edit the text of an own message (WhatsApp allows 15 minutes)",
        description="422 `not_own_message` for someone else's message, `message_not_editable` "
                    "for a non-text or one too old. A message.edited event follows.",
        responses=docs.responses(docs.Message, errors=(404, 422, *docs.BROWSER_ERRORS)))
def edit_message(session_id, messageId, body):
    return shapes.message(page(session_id).edit_message(message_id(messageId), body["text"]))


@bp.post("/sessions/<session_id>/messages/<messageId>/forward")
@bp.input(ForwardIn, arg_name="body")
@bp.doc(operation_id="forwardMessage",
        summary="Forward a message to another chat",
        responses=docs.responses(docs.Forwarded, errors=(404, 422, *docs.BROWSER_ERRORS)))
def forward_message(session_id, messageId, body):
    return page(session_id).forward_message(message_id(messageId), chat_id(body["to"]))


@bp.post("/sessions/<session_id>/messages/<messageId>/star")
@bp.input(StarIn, arg_name="body")
@bp.doc(operation_id="starMessage",
        summary="Star or unstar a message (for this account)",
        responses=docs.responses(docs.Starred, errors=(404, 422, *docs.BROWSER_ERRORS)))
def star_message(session_id, messageId, body):
    return page(session_id).star_message(message_id(messageId), body["star"])


@bp.post("/sessions/<session_id>/messages/<messageId>/pin")
@bp.input(PinIn, arg_name="body")
@bp.doc(operation_id="pinMessage",
        summary="Pin a message in its chat for everyone in it (OneDay, SevenDays, ThirtyDays)",
        description="422 `message_not_pinnable`: already pinned / not pinned, a revoked "
                    "message, or a group where only admins may pin.",
        responses=docs.responses(docs.Pinned, errors=(404, 422, *docs.BROWSER_ERRORS)))
def pin_message(session_id, messageId, body):
    return page(session_id).pin_message(message_id(messageId), body["pin"], body["duration"])


# The media route reads its body itself (size first, then content), so no @input describes it.
RECIPIENT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 128,
                    "pattern": RECIPIENT_PATTERN}
# What no schema can say: checked on the bytes themselves (415 otherwise).
FILE_RULE = ("the file's content must be of the type its extension names, and a declared "
             "mimetype must agree")
MEDIA_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["to", "file"],
            "properties": {"to": RECIPIENT_SCHEMA,
                           "caption": {"type": "string", "maxLength": 4096},
                           "file": {"type": "string", "format": "binary",
                                    "description": FILE_RULE}}}},
        "application/json": {"schema": {
            "type": "object", "required": ["to", "media"], "additionalProperties": False,
            "properties": {
                "to": RECIPIENT_SCHEMA,
                "caption": {"type": "string", "maxLength": 4096},
                "media": {"type": "object", "required": ["data", "filename"],
                          "additionalProperties": False,
                          "properties": {"data": {"type": "string", "format": "byte",
                                                  "minLength": 1,
                                                  "description": "base64 or a data: URL; "
                                                                 + FILE_RULE},
                                         "filename": {"type": "string", "minLength": 1,
                                                      "maxLength": 255},
                                         "mimetype": {"type": "string", "maxLength": 128}}}}}},
    },
}


def document_media(spec: dict) -> dict:
    for kind in ("media", "voice", "sticker"):
        op = spec.get("paths", {}).get(f"/sessions/{{session_id}}/messages/{kind}", {}).get("post")
        if op is not None:
            op["requestBody"] = MEDIA_BODY
    return spec


def init_app(app) -> None:
    """Describe the media upload body in the OpenAPI document (before the shared additions)."""
    previous = app.spec_callback
    app.spec_processor(lambda spec: (previous or (lambda s: s))(document_media(spec)))
