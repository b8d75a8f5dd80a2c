"""Response schemas of the session routes."""

from __future__ import annotations

from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, String
from apiflask.validators import OneOf

from ...vocabulary import CONNECTED_DETAILS, RESTRICTED, SESSION_ID
from .out import STATUSES, TIME, Out


class Me(Out):
    id = String(required=True, metadata={"example": "6281234567890@c.us"})
    name = String(allow_none=True)


class BrowserInfo(Out):
    pid = Integer(required=True)
    rssMb = Float(allow_none=True)
    pssMb = Float(allow_none=True, metadata={
        "description": "the browser tree's PSS at the watchdog's last pass (null until then)"})
    processes = Integer(allow_none=True, metadata={"description": "processes in the tree"})


class Activity(Out):
    sentToday = Integer(required=True, metadata={"description": "sends that went out (UTC day)"})
    receivedToday = Integer(required=True, metadata={"description": "`message` events"})
    undecryptableToday = Integer(required=True, metadata={
        "description": "`message.undecryptable` events: messages that never decrypted"})
    failedToday = Integer(required=True, metadata={"description": "sends that failed for good"})
    queued = Integer(required=True, metadata={"description": "sends waiting in the pacer"})
    lastEventAt = String(required=True, allow_none=True, metadata=TIME)


class PacingOut(Out):
    minInterval = Float(required=True)
    jitter = Float(required=True)
    dailyCap = Integer(required=True)
    typing = Boolean(required=True)


class WebhookSummary(Out):
    url = String(required=True, allow_none=True)
    events = List(String(), required=True)
    hasSecret = Boolean(required=True)


class Session(Out):
    id = String(required=True, metadata={"pattern": SESSION_ID.pattern})
    status = String(required=True, validate=OneOf(STATUSES))
    statusReason = String(required=True, allow_none=True,
                          metadata={"example": "qr_expired"})
    detail = String(allow_none=True, validate=OneOf((*CONNECTED_DETAILS, RESTRICTED)), metadata={
        "description": "CONNECTED only: the account is linked but its stream is down (OFFLINE: "
                       "no connection, SYNCING / RESUMING: catching up); sends made now are "
                       "queued (202) and go out when it is back. DEGRADED: the stream looks up "
                       "but nothing flows (`statusDetails` `{reason, step, since}`); sends are "
                       "queued (202) and tried one at a time. RESTRICTED: WhatsApp's "
                       "reach-out timelock holds sends to new contacts until `until`. "
                       "null otherwise"})
    until = String(metadata={**TIME, "description": "RESTRICTED: when the timelock ends"})
    restriction = Dict(allow_none=True, metadata={
        "description": "WhatsApp's reach-out timelock in force: {until, reason, since}, or null"})
    statusDetails = Dict(allow_none=True, metadata={
        "description": "what the reason needs said, or null: for `wa_update_required` "
                       "`{missing, waVersion, waJsVersion, mode}` (the wa-js functions this "
                       "WhatsApp Web lacks, the versions in use); for DEGRADED `{reason, step, "
                       "since}`; for `wa_unreachable` and "
                       "the `proxy_*` reasons `{\"error\": \"ERR_NAME_NOT_RESOLVED\", \"url\": …}`"})
    degraded = Dict(allow_none=True, metadata={
        "description": "connected but dead: `{reason, step, since}` (reason acks_pending, "
                       "sends_timed_out, sends_refused or socket_down; step reload, relaunch or "
                       "alert); null otherwise"})
    wa = Dict(metadata={
        "description": "what the page runs, recorded at each load: `{waVersion, waJsVersion, "
                       "injected, selfCheck: {checked, missing}}`"})
    me = Nested(Me, required=True, allow_none=True)
    createdAt = String(required=True, metadata=TIME)
    lastActivityAt = String(required=True, allow_none=True, metadata=TIME)
    restarts = Integer(required=True)
    browser = Nested(BrowserInfo, required=True, allow_none=True)
    responding = Boolean(metadata={"description": "false while the page has been stuck in one "
                                                  "call longer than COMMAND_TIMEOUT (a frozen "
                                                  "renderer, until the watchdog relaunches it)"})
    # The live fields below are in GET /sessions and GET /sessions/{id}, not in a DELETE's answer.
    statusSince = String(metadata={**TIME, "description": "when it entered this status "
                                   "(at most since this process started)"})
    activity = Nested(Activity)
    pacing = Nested(PacingOut)
    keepAlive = Boolean(metadata={"description": "never stopped for idleness"})
    webhook = Nested(WebhookSummary)
    rejectCalls = Boolean(metadata={"description": "incoming calls are rejected at once"})
    callReply = String(allow_none=True, metadata={
        "description": "the text a rejected caller receives (null: none)"})
    proxy = String(allow_none=True, metadata={
        "description": "the proxy the browser goes through, password masked "
                       "(`http://user:***@host:port`); null: none",
        "example": "http://user:***@10.0.0.5:3128"})
    historyDays = Float(metadata={"description": "days of message history it keeps "
                                                 "(GET …/messages; 0: none)"})
    node = String(allow_none=True, metadata={
        "description": "the gateway node (NODE_ID) running it; null: none runs it"})


class SessionList(Out):
    data = List(Nested(Session), required=True)


class QrCode(Out):
    qr = String(required=True, metadata={"description": "the string the phone scans"})
    expiresAt = String(required=True, metadata=TIME)


class PairingCode(Out):
    code = String(required=True, metadata={"example": "ABCD-EFGH"})


class Cleared(Out):
    cleared = Integer(required=True)


class Pacing(Out):
    """The send pacing in force for a session (its overrides on top of the configuration)."""

    minInterval = Float(required=True, metadata={"description": "seconds"})
    jitter = Float(required=True, metadata={"description": "seconds, random extra"})
    dailyCap = Integer(required=True, metadata={"description": "0 = none"})
    typing = Boolean(required=True)
