"""Chat routes: the chat list, a chat's messages, mark read; typing/recording, archive, pin,
mute, clear, delete, and labels (WhatsApp Business accounts). Each change drops the session's
cached chat list."""

from __future__ import annotations

from apiflask import APIBlueprint

from .. import shapes
from . import docs
from .context import cached_list, engine, page
from .docs.chats import ChatCleared, ChatDeleted, ChatPresence, ChatState, Label, LabelList, Resynced
from .schemas import (
    ArchiveIn,
    ChatPinIn,
    ChatPresenceIn,
    ClearIn,
    LabelCreateIn,
    LabelsIn,
    ListQuery,
    MessagesQuery,
    MuteIn,
    ResyncIn,
    chat_id,
)

bp = APIBlueprint("chats", __name__, tag="Chats")
CHAT_ERRORS = (404, 422, *docs.BROWSER_ERRORS)


def changed(session_id: str, result: dict, shape=shapes.chat) -> dict:
    """A chat changed: the cached chat list is stale."""
    engine().invalidate(session_id, "chats")
    return shape(result)


@bp.get("/sessions/<session_id>/chats")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.doc(operation_id="listChats", tags=["Chats"],
        summary="List chats (cached for CACHE_TTL_CHATS; refresh=true skips the cache)",
        responses={**docs.responses(docs.ChatList, errors=docs.BROWSER_ERRORS),
                   **docs.NOT_MODIFIED})
def list_chats(session_id, query):
    return cached_list(session_id, "chats", shapes.chat, query["refresh"])


@bp.get("/sessions/<session_id>/chats/<chatId>/messages")
@bp.input(MessagesQuery, location="query", arg_name="query")
@bp.doc(operation_id="listChatMessages", tags=["Chats"],
        summary="A chat's newest messages, oldest first",
        responses=docs.responses(docs.MessageList, errors=docs.BROWSER_ERRORS))
def chat_messages(session_id, chatId, query):
    found = page(session_id).get_messages(chat_id(chatId, "chatId"), query["limit"])
    return {"data": [shapes.message(m) for m in found]}


@bp.post("/sessions/<session_id>/chats/<chatId>/read")
@bp.doc(operation_id="markChatRead", tags=["Chats"],
        summary="Mark a chat as read (sends read receipts)",
        responses=docs.responses(docs.ReadReceipt, errors=docs.BROWSER_ERRORS))
def mark_read(session_id, chatId):
    result = page(session_id).mark_read(chat_id(chatId, "chatId"))
    engine().invalidate(session_id, "chats")  # its unread count changed
    return result


@bp.post("/sessions/<session_id>/chats/<chatId>/presence")
@bp.input(ChatPresenceIn, arg_name="body")
@bp.doc(operation_id="setChatPresence",
        summary="Show typing… or recording audio… in a chat, or stop (paused)",
        description="The other party sees it while the chat is open, as on WhatsApp; it fades "
                    "after about 25 seconds unless sent again.",
        responses=docs.responses(ChatPresence, errors=CHAT_ERRORS))
def chat_presence(session_id, chatId, body):
    return page(session_id).chat_presence(chat_id(chatId, "chatId"), body["state"])


@bp.post("/sessions/<session_id>/chats/<chatId>/archive")
@bp.input(ArchiveIn, arg_name="body")
@bp.doc(operation_id="archiveChat", summary="Archive or unarchive a chat (archiving unpins it)",
        responses=docs.responses(ChatState, errors=CHAT_ERRORS))
def archive_chat(session_id, chatId, body):
    return changed(session_id, page(session_id).archive_chat(chat_id(chatId, "chatId"),
                                                             body["archive"]))


@bp.post("/sessions/<session_id>/chats/<chatId>/pin")
@bp.input(ChatPinIn, arg_name="body")
@bp.doc(operation_id="pinChat", summary="Pin or unpin a chat (WhatsApp pins at most 3)",
        description="422 `chat_pin_limit` when 3 chats are pinned already.",
        responses=docs.responses(ChatState, errors=CHAT_ERRORS))
def pin_chat(session_id, chatId, body):
    return changed(session_id, page(session_id).pin_chat(chat_id(chatId, "chatId"), body["pin"]))


@bp.post("/sessions/<session_id>/chats/<chatId>/mute")
@bp.input(MuteIn, arg_name="body")
@bp.doc(operation_id="muteChat",
        summary="Mute a chat for a duration or until a time, or unmute it (mute: false)",
        description="422 when `until` is in the past.",
        responses=docs.responses(ChatState, errors=CHAT_ERRORS))
def mute_chat(session_id, chatId, body):
    return changed(session_id, page(session_id).mute_chat(
        chat_id(chatId, "chatId"), body["mute"], body.get("duration"), body.get("until")))


@bp.post("/sessions/<session_id>/chats/<chatId>/clear")
@bp.input(ClearIn, arg_name="body")
@bp.doc(operation_id="clearChat",
        summary="Delete a chat's messages for this account (the chat stays)",
        responses=docs.responses(ChatCleared, errors=CHAT_ERRORS))
def clear_chat(session_id, chatId, body):
    return changed(session_id, page(session_id).clear_chat(chat_id(chatId, "chatId"),
                                                           body["keepStarred"]), dict)


@bp.delete("/sessions/<session_id>/chats/<chatId>")
@bp.doc(operation_id="deleteChat", summary="Delete a chat and its messages for this account",
        responses=docs.responses(ChatDeleted, errors=CHAT_ERRORS))
def delete_chat(session_id, chatId):
    return changed(session_id, page(session_id).delete_chat(chat_id(chatId, "chatId")), dict)


@bp.post("/sessions/<session_id>/chats/<chatId>/resync")
@bp.input(ResyncIn, arg_name="body")
@bp.doc(operation_id="resyncChat",
        summary="Publish the chat's incoming messages since a time that no event carried",
        description="Reads the chat's history through WhatsApp Web (its newest 500 messages), "
                    "compares it with the event log and publishes each incoming message the "
                    "log lacks as a `message` event with `catchUp: true`, once: a second call "
                    "publishes 0. For a gap an operator knows of (docs/sessions.md, bad days).",
        responses=docs.responses(Resynced, errors=CHAT_ERRORS))
def resync_chat(session_id, chatId, body):
    return {"published": engine().resync_chat(session_id, chat_id(chatId, "chatId"),
                                              body["since"])}


@bp.get("/sessions/<session_id>/labels")
@bp.doc(operation_id="listLabels", summary="The account's labels (WhatsApp Business only)",
        description="422 `not_business_account` for a personal account.",
        responses=docs.responses(LabelList, errors=(422, *docs.BROWSER_ERRORS)))
def list_labels(session_id):
    return {"data": page(session_id).labels()}


@bp.post("/sessions/<session_id>/labels")
@bp.input(LabelCreateIn, arg_name="body")
@bp.doc(operation_id="createLabel", summary="Create a label (WhatsApp Business only)",
        description="409 `label_limit` when the account has 20 labels (WhatsApp's limit).",
        responses=docs.responses(Label, 201, errors=(422, *docs.BROWSER_ERRORS)))
def create_label(session_id, body):
    return page(session_id).add_label(body["name"], body.get("color")), 201


@bp.put("/sessions/<session_id>/chats/<chatId>/labels")
@bp.input(LabelsIn, arg_name="body")
@bp.doc(operation_id="changeChatLabels",
        summary="Add labels to a chat and remove others (WhatsApp Business only)",
        description="404 `label_not_found` for an id GET …/labels does not list.",
        responses=docs.responses(ChatState, errors=CHAT_ERRORS))
def change_chat_labels(session_id, chatId, body):
    return changed(session_id, page(session_id).change_chat_labels(
        chat_id(chatId, "chatId"), body.get("add", []), body.get("remove", [])))
