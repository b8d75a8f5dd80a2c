"""Turn the bridge's JSON into the API's shapes (API.md): plain, stable, documented fields."""

from __future__ import annotations

ACK = {-1: "failed", 0: "pending", 1: "sent", 2: "delivered", 3: "read", 4: "read", 5: "read"}


def ack_name(value) -> str:
    if isinstance(value, int) and value < -1:
        return "failed"
    return ACK.get(value, "pending")


def message(m: dict) -> dict:
    out = {"id": m["id"], "chatId": m["chatId"], "from": m.get("from"), "to": m.get("to"),
           "fromMe": m.get("fromMe", False), "type": m.get("type"), "body": m.get("body") or "",
           "timestamp": m.get("timestamp"), "ack": ack_name(m.get("ack"))}
    for src, dst in (("caption", "caption"), ("mimetype", "mimetype"), ("filename", "filename"),
                     ("quotedId", "quotedId"), ("author", "author")):
        if m.get(src):
            out[dst] = m[src]
    if m.get("type") == "location":
        out["location"] = {"latitude": m.get("lat"), "longitude": m.get("lng")}
    if m.get("sender"):
        out["sender"] = {"id": m["sender"].get("id"), "pushname": m["sender"].get("pushname"),
                         "name": m["sender"].get("name")}
    return out
