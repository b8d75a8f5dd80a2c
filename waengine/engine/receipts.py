"""Acks matched to the sends they are about, and each group member's receipts.

WhatsApp rebuilds a receipt's message key from the receipt itself (`remote` = who sent the
receipt, `participant` = the reader in a group: wa-js chat/events/eventTypes.d.ts
`chat.msg_ack_change` `{ack, chat, sender?, ids: MsgKey[]}`), so the key need not equal the
id a send answered with; in 1:1 chats it may name the recipient by `@lid`. The key's `id`
part is the message's own random id: acks are matched on it, and published with the id the
client knows.
"""

from __future__ import annotations

from ..shapes import ack_name
from ..store import StoreBase, iso_utc


def key_id(serialized: str | None) -> str | None:
    """The random id part of a serialized key `true_<remote>_<ID>[_<participant>]`."""
    parts = (serialized or "").split("_")
    return parts[2] if len(parts) >= 3 and parts[0] in ("true", "false") else None


class Receipts:
    def __init__(self, store: StoreBase, clock):
        self.store = store  # its table comes from waengine/migrations.py
        self.clock = clock

    def record(self, session_id: str, message_id: str, participant: str, ack: int) -> None:
        self.store.execute(
            "INSERT INTO receipts (session, message_id, participant, ack, at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session, message_id, participant) DO UPDATE"
            " SET ack = excluded.ack, at = excluded.at WHERE excluded.ack > receipts.ack",
            (session_id, message_id, participant, ack, self.clock()))

    def of(self, session_id: str, message_id: str) -> list[dict]:
        rows = self.store.execute(
            "SELECT participant, ack, at FROM receipts WHERE session = ? AND message_id = ?"
            " ORDER BY participant", (session_id, message_id))
        return [{"participant": r["participant"], "ack": ack_name(r["ack"]), "at": iso_utc(r["at"])}
                for r in rows]

    def forget_session(self, session_id: str) -> None:
        self.store.execute("DELETE FROM receipts WHERE session = ?", (session_id,))


def match_ack(queue, receipts: Receipts, session_id: str, data: dict) -> dict:
    """The page's message.ack with each key replaced by the id the client knows (when it is
    one of our queued sends), a group member's receipt stored."""
    ids = list(data.get("ids") or ())
    key_ids = list(data.get("keyIds") or ())
    known = []
    for index, serialized in enumerate(ids):
        kid = key_ids[index] if index < len(key_ids) and key_ids[index] else key_id(serialized)
        row = queue.by_key_id(session_id, kid) if kid else None
        # a receipt can beat the send's own result into the store: the pre-assigned id is the
        # one the send answers with
        sent_id = ((row.get("message") or {}).get("id") or row.get("wa_id")) if row else None
        if sent_id and _same_chat(row, data.get("chatId")):
            known.append(sent_id)
            sender = data.get("sender")
            if sender and (data.get("chatId") or "").endswith("@g.us") \
                    and isinstance(data.get("ack"), int) and data["ack"] >= 2:
                receipts.record(session_id, sent_id, sender, data["ack"])
        else:
            known.append(serialized)
    return {**data, "ids": known}


def _same_chat(row: dict, chat_id: str | None) -> bool:
    """Within the chat: a group's receipts come from the group; a 1:1 receipt may name the
    recipient by phone or by @lid, which only the key id ties together."""
    sent_chat = (row.get("message") or {}).get("chatId") or row["args"].get("to") or ""
    if sent_chat.endswith("@g.us") or (chat_id or "").endswith("@g.us"):
        return sent_chat == chat_id
    return True
