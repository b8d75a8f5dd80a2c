"""Status derivation: what a polled page state means for the session's status."""

from __future__ import annotations

from ..vocabulary import Status

FAILING_MODES = {"DEPRECATED_VERSION": "wa_update_required", "TOS_BLOCK": "banned",
                 "SMB_TOS_BLOCK": "banned", "PROXYBLOCK": "proxy_blocked"}


def derive_status(state: dict, current: Status) -> tuple[Status, str | None] | None:
    """The status a polled page state means, or None when it says nothing new (still loading)."""
    if not state.get("fullReady"):
        return None
    if state.get("missing"):  # the page's self-check: this WhatsApp Web lacks functions we call
        return Status.FAILED, "wa_update_required"
    mode = state.get("mode")
    # conn.needsUpdate() is WhatsApp's Stream.needsUpdate, its "update available" banner: the
    # socket keeps working, so only the mode DEPRECATED_VERSION ends the session.
    if mode in FAILING_MODES:
        return Status.FAILED, FAILING_MODES[mode]
    if state.get("auth"):
        if mode == "CONFLICT":
            return Status.CONFLICT, None
        if mode == "MAIN":
            return Status.CONNECTED, None
        # OFFLINE / SYNCING of a session that was up (stream_detail says which). Just after a
        # scan the page syncs the history first: the link is done when MAIN comes.
        if stream_detail(state) and current != Status.SCAN_QR:
            return Status.CONNECTED, None
        return None
    if state.get("idle"):
        return Status.FAILED, "qr_expired"
    if not state.get("qr"):
        return None  # logged out but no QR yet: a client in SCAN_QR can always fetch one
    reason = "logged_out" if current == Status.CONNECTED else None
    return Status.SCAN_QR, reason


# StreamInfo values under mode MAIN while WhatsApp reconnects its socket (enums/StreamInfo.d.ts):
# the mode stays MAIN, nothing flows.
SOCKET_DOWN = ("OFFLINE", "CONNECTING", "OPENING")


def stream_detail(state: dict) -> str | None:
    """A CONNECTED session's `detail`: why its stream does not carry messages right now."""
    mode = state.get("mode")
    if mode == "MAIN" and state.get("info") in SOCKET_DOWN:
        return state["info"]
    if mode == "OFFLINE":
        return "OFFLINE"
    if mode == "SYNCING":  # StreamInfo RESUMING: catching up after a reconnect
        return "RESUMING" if state.get("info") == "RESUMING" else "SYNCING"
    return None


def failure_details(reason: str, state: dict) -> dict | None:
    """What a FAILED reason needs said, from the page state (wa_update_required: versions)."""
    if reason != "wa_update_required":
        return None
    # The versions an operator compares when updating the bundle (docs/sessions.md), and the
    # wa-js functions this WhatsApp Web build lacks (none when WhatsApp itself said so).
    return {"missing": list(state.get("missing") or ()), "waVersion": state.get("waVersion"),
            "waJsVersion": state.get("version"), "mode": state.get("mode")}


def versions(state: dict) -> dict:
    """What a loaded page runs: WhatsApp Web's build, the wa-js bundle's version, and the
    self-check of the wa-js functions the bridge calls (session JSON `wa`, /health)."""
    return {"version": state.get("version"), "injected": bool(state.get("injected")),
            "waVersion": state.get("waVersion"), "waJsVersion": state.get("version"),
            "selfCheck": {"checked": state.get("checked") or 0,
                          "missing": list(state.get("missing") or ())}
            if state.get("fullReady") else None}
