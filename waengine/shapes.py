"""Turn the bridge's JSON into the API's shapes (docs/api.md): plain, stable, documented fields."""

from __future__ import annotations

from .store import iso_utc
from .vocabulary import ACK_BY_CODE, HELD


def ack_name(value) -> str:
    if isinstance(value, int) and value < -1:
        return "failed"
    return ACK_BY_CODE.get(value, "pending")


def iso(seconds) -> str | None:
    """Unix seconds as ISO 8601 UTC (docs/api.md: times in bodies are strings)."""
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    return iso_utc(seconds)


def message(m: dict) -> dict:
    out = {"id": m["id"], "chatId": m["chatId"], "from": m.get("from"), "to": m.get("to"),
           "fromMe": m.get("fromMe", False), "type": m.get("type"), "body": m.get("body") or "",
           "timestamp": m.get("timestamp"), "ack": ack_name(m.get("ack"))}
    for src, dst in (("caption", "caption"), ("mimetype", "mimetype"), ("filename", "filename"),
                     ("size", "size"), ("quotedId", "quotedId"), ("author", "author"),
                     ("mentions", "mentions"), ("media", "media"), ("mediaError", "mediaError"),
                     ("poll", "poll"), ("contacts", "contacts"),
                     # the chat's person and a send's recipient by phone id and @lid, where
                     # known (engine/identities.py)
                     ("chatIds", "chatIds"), ("recipientIds", "recipientIds")):
        if m.get(src):
            out[dst] = m[src]
    if m.get("type") == "location":
        name, _, address = (m.get("body") or "").partition("\n")
        out["location"] = {"latitude": m.get("lat"), "longitude": m.get("lng"),
                           "name": name or None, "address": address or None}
    if m.get("sender"):
        out["sender"] = {"id": m["sender"].get("id"), "pushname": m["sender"].get("pushname"),
                         "name": m["sender"].get("name")}
    out["senderIds"] = sender_ids(m)
    return out


def sender_ids(m: dict) -> dict:
    """Who sent it, as a phone-number id and as an @lid id, each where WhatsApp gave one.

    After WhatsApp's LID migration `from` (or `author` in groups) is often `…@lid` while the
    sender's contact still carries the phone-number id, or the other way round. The page
    resolves the other id with WhatsApp's own map (`senderIds`, contact.getPnLidEntry); what
    the message itself says fills in where that map knows nothing.
    """
    candidates = (m.get("author") or m.get("from"), (m.get("sender") or {}).get("id"))
    phone = next((c for c in candidates if c and c.endswith("@c.us")), None)
    lid = next((c for c in candidates if c and c.endswith("@lid")), None)
    resolved = m.get("senderIds") or {}
    return {"phone": resolved.get("phone") or phone, "lid": resolved.get("lid") or lid}


def contact(c: dict) -> dict:
    """contact = {id, phone, lid, name, pushname, isMyContact, isBusiness} (docs/api.md)."""
    return {"id": c["id"], "phone": c.get("phone"), "lid": c.get("lid"), "name": c.get("name"),
            "pushname": c.get("pushname"), "isMyContact": bool(c.get("isMyContact")),
            "isBusiness": bool(c.get("isBusiness"))}


def chat(c: dict) -> dict:
    return {"id": c["id"], "name": c.get("name"), "isGroup": bool(c.get("isGroup")),
            "unreadCount": c.get("unreadCount") or 0, "timestamp": c.get("timestamp"),
            "archived": bool(c.get("archived")), "pinned": bool(c.get("pinned")),
            "muted": bool(c.get("mutedUntil")), "mutedUntil": c.get("mutedUntil") or None,
            "labels": [str(x) for x in c.get("labels") or ()]}


def group(g: dict) -> dict:
    """group = {id, name, participants: [{id, isAdmin}], owner} (docs/api.md), plus when known."""
    out = {"id": g["id"], "name": g.get("name"),
           "participants": [{"id": p["id"], "isAdmin": bool(p.get("isAdmin")),
                             "isSuperAdmin": bool(p.get("isSuperAdmin"))}
                            for p in g.get("participants") or ()],
           "owner": g.get("owner"), "createdAt": iso(g.get("creation"))}
    if "announce" in g:  # the page reports them (bridge.js groupJSON)
        out["description"] = g.get("description")
        out["settings"] = {"announce": bool(g["announce"]), "restrict": bool(g.get("restrict"))}
    if g.get("results"):
        out["results"] = g["results"]  # per participant of a create/add: {code, message}
    return out


def outgoing_view(row: dict) -> dict:
    """A queued send as the API shows it (GET …/messages/{id}, the message.status event)."""
    sent = message(row["message"]) if row.get("message") else None
    error = row.get("error")
    out = {"id": row["id"], "status": row["status"], "to": row["args"].get("to"),
           "attempts": row["attempts"], "createdAt": row["created_at"], "message": sent,
           "error": error,
           # why it failed, or why it is being tried again (WhatsApp's SendMsgResult or a code)
           "reason": (error.get("reason") or error.get("code")) if error else None,
           "ack": sent["ack"] if sent else ("failed" if row["status"] == "failed" else "pending")}
    if row.get("held"):  # a cold send a reach-out limit holds (engine/reachout.py)
        out.update(status=HELD, heldReason=row["held"]["reason"],
                   heldUntil=iso(row["held"]["until"]))
    if row.get("receipts") is not None:
        out["receipts"] = row["receipts"]  # a group send: each member's delivery and read
    return out


def webhook(hook: dict | None) -> dict:
    """A session's webhook as responses show it: never its secret, only whether it has one."""
    if not hook:
        return {"url": None, "events": [], "hasSecret": False}
    return {"url": hook["url"], "events": hook.get("events") or [],
            "hasSecret": bool(hook.get("secret"))}
