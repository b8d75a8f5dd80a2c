"""Request schemas: they validate input and describe it in the OpenAPI document."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from apiflask import Schema
from apiflask.fields import URL, Boolean, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range, Regexp
from flask import current_app
from marshmallow import ValidationError as SchemaError
from marshmallow import validates_schema

from ..engine.proxy import ProxyError, parse_proxy
from ..errors import ValidationError
from ..events import sinks
from ..events.outbox import EVENT_TYPES
from ..events.signing import WHSEC_PATTERN, secret_problem
from ..netguard import AddressRefused, Guard
from ..vocabulary import DELIVERY_STATUSES
from ..vocabulary import SESSION_ID as SESSION_ID_RE

SESSION_ID = SESSION_ID_RE.pattern


# JSON bodies take JSON types only (the document says so): marshmallow's fields also take
# "1.5", "5", 1, "yes" or "on", which is right for a query string and wrong for JSON.
class JSONBoolean(Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):  # 0 == False, so the truthy/falsy sets cannot tell
            raise self.make_error("invalid", input=value)
        return value


class JSONNumber(Float):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class JSONInteger(Integer):
    """An integer as JSON Schema means it: 3 and 3.0 are the same number; "3" and 3.5 are not."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)
# The documented patterns are the checks themselves (one source): a client generated from the
# document never sends an id the API refuses, and the fuzz test holds both to it.
WA_ID = r"[0-9A-Za-z._:-]{1,64}@(?:c\.us|g\.us|lid|broadcast|newsletter)"
PERSON_ID = r"[0-9A-Za-z._:-]{1,64}@(?:c\.us|lid)"
# A phone number with country code, 5 to 20 digits, spelled as people do: +62 (822) 1234-5678.
PHONE = r"\+?\(?[1-9](?:[ ().-]{0,3}[0-9]){4,19}"
RECIPIENT_PATTERN = rf"^\s*(?:{WA_ID}|{PHONE})\s*$"
PERSON_PATTERN = rf"^\s*(?:{PERSON_ID}|{PHONE})\s*$"
PHONE_PATTERN = rf"^\s*{PHONE}\s*$"
GROUP_ID_PATTERN = r"^[0-9]{1,32}(?:-[0-9]{1,16})?@g\.us$"
MESSAGE_KEY_PATTERN = (r"^(?:true|false)_[0-9A-Za-z._:-]{1,64}@(?:c\.us|g\.us|lid|broadcast|newsletter)"
                       r"_[0-9A-Za-z]{4,64}(?:_[0-9A-Za-z._:-]{1,64}@(?:c\.us|lid))?$")
# WhatsApp parses a quoted message with MsgKey.fromString: the random id alone names no message.
REPLY_TO_ERROR = ("replyTo must be a full message key as the API gives it in a message's `id`: "
                  "true_<chat>_<id> for your own message or false_<chat>_<id>[_<participant>] "
                  "for a received one (e.g. false_6281234567890@c.us_3A16F0E2B1C4D5A6B7C8 or "
                  "false_120363…@g.us_3A16…_12345678901234@lid), not the bare id.")
# One emoji, possibly with modifiers and joiners, or "" to remove: text is not a reaction.
EMOJI_PATTERN = r"^[^\sA-Za-z0-9]{0,16}$"
_WA_ID = re.compile(WA_ID, re.ASCII)
_PHONE = re.compile(PHONE, re.ASCII)
_GROUP_ID = re.compile(GROUP_ID_PATTERN, re.ASCII)
_MSG_KEY = re.compile(MESSAGE_KEY_PATTERN, re.ASCII)
_SPACE = " \t\n\r\f\v"  # what \s is to JSON Schema (ECMA-262) validators, and to re.ASCII


class Pattern(Regexp):
    """The whole value matches, read as JSON Schema validators read the documented pattern:
    ASCII classes, and a closing `$` that is the end of the string (not before a newline)."""

    def __init__(self, pattern: str, error: str | None = None):
        super().__init__(re.compile(pattern, re.ASCII), error=error)

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise SchemaError(self._format_error(value))
        return value


_RECIPIENT = [Length(1, 128), Pattern(RECIPIENT_PATTERN, error="Not a phone number with "
                                      "country code or a WhatsApp id.")]
_PERSON = [Length(1, 128), Pattern(PERSON_PATTERN, error="Not a person's phone number or id.")]


def chat_id(value: str, field: str = "to") -> str:
    """Normalize a recipient: WhatsApp ids pass through, phone numbers become <digits>@c.us."""
    value = (value or "").strip(_SPACE)
    if "@" in value:
        if _WA_ID.fullmatch(value):
            return value
        raise ValidationError(f"{value!r} is not a WhatsApp id", details={"field": field})
    if _PHONE.fullmatch(value):
        return re.sub(r"\D", "", value) + "@c.us"
    raise ValidationError(f"{value!r} is not a phone number with country code or a WhatsApp id",
                          details={"field": field})


def user_id(value: str, field: str) -> str:
    """A person: a phone number, `…@c.us` or `…@lid` (not a group, broadcast or channel)."""
    wid = chat_id(value, field)
    if not wid.endswith(("@c.us", "@lid")):
        raise ValidationError(f"{value!r} is not a person's id or phone number",
                              details={"field": field})
    return wid


def group_id(value: str) -> str:
    if not _GROUP_ID.fullmatch(value or ""):
        raise ValidationError(f"{value!r} is not a group id (…@g.us)", details={"field": "groupId"})
    return value


def message_id(value: str) -> str:
    """A message key as the API returns it: fromMe_chat_id[_participant]."""
    if not _MSG_KEY.fullmatch(value or ""):
        raise ValidationError(f"{value!r} is not a message id (e.g. true_628…@c.us_3EB0…)",
                              details={"field": "messageId"})
    return value


def _secret(value: str) -> None:
    problem = secret_problem(value)
    if problem:
        raise SchemaError(problem[0].upper() + problem[1:] + ".")


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = (rf"(?:{_LABEL}(?:\.{_LABEL})*\.[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])|{_LABEL}"
         r"|(?:[0-9]{1,3}\.){3}[0-9]{1,3})")
# http(s), a host name or IPv4 address, a port, a path and a query; no user:password@ (urllib
# would not send it). Every URL it matches also passes marshmallow's URL check (tested).
WEBHOOK_URL_PATTERN = (rf"^https?://{_HOST}(?::[0-9]{{1,5}})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*"
                       r"(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]+)?$")


def outgoing(url: str) -> None:
    """Refuse an outgoing URL whose host is an inside address or a localhost name (netguard:
    names are checked again, resolved, at every connect)."""
    try:
        Guard.from_config(current_app.config).check_url(url)
    except AddressRefused as e:
        raise SchemaError(f"A {e.reason} address is not allowed here (the operator may allow "
                          "it: WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOW).") from None


_WEBHOOK_URL = {"validate": [Length(max=2048), Pattern(WEBHOOK_URL_PATTERN,
                                                       error="Not a valid URL."), outgoing],
                "metadata": {"description": "http(s); not a loopback, private, link-local or "
                             "multicast address unless the operator allows it"}}


class WebhookIn(Schema):
    url = URL(required=True, schemes={"http", "https"}, require_tld=False, **_WEBHOOK_URL)
    events = List(String(validate=OneOf(EVENT_TYPES)), validate=Length(max=len(EVENT_TYPES)))
    secret = String(validate=[Length(min=24, max=256), _secret], metadata={
        "description": "signs every delivery: a Standard Webhooks `whsec_<base64>` secret "
                       "(24 to 64 bytes), or any other string of 24 or more characters (its "
                       "UTF-8 bytes are the key)",
        "anyOf": [{"not": {"pattern": "^whsec_"}}, {"pattern": WHSEC_PATTERN}]})


class WebhookPutIn(WebhookIn):
    generateSecret = JSONBoolean(metadata={
        "description": "true: waengine makes a new whsec_ secret, returned once in `secret`"})

    @validates_schema
    def _one_secret(self, data, **kwargs):
        if data.get("generateSecret") and data.get("secret"):
            raise SchemaError("Give 'secret' or 'generateSecret', not both.")


class WebhookPatchIn(WebhookIn):
    """PATCH: what is left out (the secret above all) is kept."""

    url = URL(schemes={"http", "https"}, require_tld=False, **_WEBHOOK_URL)


_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_CREDENTIAL = r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+"


def _sink_url(value: str) -> None:
    problem = sinks.url_problem(value)
    if problem:
        raise SchemaError(problem)


_SEGMENT = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+"
_QUERY = r"(?:\?[^\s#]*)?"
# What events/sinks.url_problem accepts, published in the schema: a broker URL with a host and
# an optional port, user:password@, path and query; SQS names its account and queue.
SINK_URL_PATTERN = (rf"^(?:(?:amqps?|nats|tls|rediss?)://(?:(?:{_CREDENTIAL})?(?::{_CREDENTIAL})?@)?"
                    rf"{_HOST}(?::{_PORT})?(?:/(?:{_SEGMENT}/?)*)?{_QUERY}"
                    rf"|sqs://(?:{_CREDENTIAL}:{_CREDENTIAL}@)?{_HOST}(?::{_PORT})?"
                    rf"/{_SEGMENT}/{_SEGMENT}/?{_QUERY})$")


class SinkIn(Schema):
    url = String(required=True, validate=[Length(max=2048), Regexp(SINK_URL_PATTERN), _sink_url,
                                                outgoing],
                 metadata={
        "description": "`amqp://`, `nats://`, `redis://` or `sqs://` (docs/events.md); "
                       "its password is never shown again",
        "example": "redis://:password@10.0.0.7:6379/0?maxlen=100000"})
    events = List(String(validate=OneOf(EVENT_TYPES)), validate=Length(max=len(EVENT_TYPES)),
                  metadata={"description": "event types to publish (empty: all)"})


class SinksPutIn(Schema):
    sinks = List(Nested(SinkIn), required=True, validate=Length(max=10))

    @validates_schema
    def _distinct(self, data, **kwargs):
        keys = [sinks.key(s["url"]) for s in data.get("sinks") or ()]
        if len(set(keys)) != len(keys):
            raise SchemaError("Each sink URL may be given once.", "sinks")


# Chromium's SOCKS5 client cannot log in, so only http(s) proxies carry user:password@.
PROXY_URL_PATTERN = (rf"^(?:https?://(?:{_CREDENTIAL}:{_CREDENTIAL}@)?|socks5://)"
                     rf"{_HOST}:{_PORT}/?$")
_PROXY_DOC = {"description": "`http://`, `https://` or `socks5://` proxy, `scheme://host:port`, "
                             "with `user:password@` for http(s): the session's browser sends "
                             "all its traffic through it; the password is never shown again",
              "example": "http://user:password@10.0.0.5:3128"}


def _proxy(value: str) -> None:
    try:
        parse_proxy(value)
    except ProxyError as e:
        raise SchemaError(str(e)) from None
    outgoing(value)


class ProxyIn(Schema):
    proxy = String(required=True, allow_none=True,
                   validate=[Length(max=2048), _proxy, Pattern(PROXY_URL_PATTERN,
                                                               error="Not a proxy URL.")],
                   metadata={**_PROXY_DOC, "description": _PROXY_DOC["description"]
                             + "; null: connect directly"})


class MoveIn(Schema):
    node = String(validate=Length(min=1, max=200), metadata={
        "description": "the node (NODE_ID) to move to; absent: the one with most free capacity"})


class PacingIn(Schema):
    """Per-session send pacing; fields left out keep the configured default."""

    minInterval = JSONNumber(validate=Range(0, 3600), metadata={"description": "seconds"})
    jitter = JSONNumber(validate=Range(0, 3600), metadata={"description": "seconds, random extra"})
    dailyCap = JSONInteger(validate=Range(0, 1_000_000), metadata={"description": "0 = none"})
    typing = JSONBoolean()
    coldPerHour = JSONInteger(validate=Range(0, 1_000_000), metadata={
        "description": "first messages to new contacts per rolling hour; 0 = none"})
    coldPerDay = JSONInteger(validate=Range(0, 1_000_000), metadata={
        "description": "first messages to new contacts per rolling day; 0 = none"})


class SessionCreateIn(Schema):
    id = String(required=True, validate=Pattern(
        SESSION_ID, error="1 to 64 of A-Z a-z 0-9 _ -."))
    webhook = Nested(WebhookIn)
    keepAlive = JSONBoolean()
    pacing = Nested(PacingIn)
    rejectCalls = JSONBoolean(metadata={
        "description": "reject incoming calls at once (default: the REJECT_CALLS setting)"})
    callReply = String(allow_none=True, validate=Length(1, 4096), metadata={
        "description": "text sent to a rejected caller (default: the CALL_REPLY setting)"})
    proxy = String(validate=[Length(max=2048), _proxy, Pattern(PROXY_URL_PATTERN,
                                                               error="Not a proxy URL.")],
                   metadata=_PROXY_DOC)
    historyDays = JSONInteger(validate=Range(0, 36500), metadata={
        "description": "days of message history kept (GET …/messages; 0: none; default: the "
                       "HISTORY_DAYS setting)"})


class KeepAliveIn(Schema):
    keepAlive = JSONBoolean(required=True)


class PairingIn(Schema):
    phone = String(required=True, validate=[
                       Length(5, 64),
                       Pattern(PHONE_PATTERN, error="Not a phone number with country code.")],
                   metadata={"description": "the phone to link, with country code"})


class DeleteQuery(Schema):
    purge = Boolean(load_default=False)


class TextMessageIn(Schema):
    to = String(required=True, validate=_RECIPIENT)
    text = String(required=True, validate=Length(1, 65536))
    replyTo = String(validate=Pattern(MESSAGE_KEY_PATTERN, error=REPLY_TO_ERROR),
                     metadata={"description": "the full key of the message to quote, as the API "
                                              "gives it in a message's `id`: "
                                              "`<fromMe>_<chat>_<id>[_<participant>]`"})
    mentions = List(String(validate=_PERSON), validate=Length(max=256))


class BulkItem(Schema):
    to = String(required=True, validate=_RECIPIENT)
    text = String(required=True, validate=Length(1, 65536))


class BulkIn(Schema):
    messages = List(Nested(BulkItem), required=True, validate=Length(1, 1000))


class DeliveriesQuery(Schema):
    status = String(validate=OneOf(DELIVERY_STATUSES))
    limit = Integer(load_default=100, validate=Range(1, 1000))


class SessionIdList(String):
    """A comma-separated list of session ids in a query string."""

    def _deserialize(self, value, attr, data, **kwargs):
        ids = [part.strip() for part in super()._deserialize(value, attr, data, **kwargs)
               .split(",") if part.strip()]
        if not ids or len(ids) > 1000 or not all(re.fullmatch(SESSION_ID, i) for i in ids):
            raise SchemaError("Not a comma-separated list of session ids")
        return ids


class StreamQuery(Schema):
    sessions = SessionIdList(metadata={"description": "only these sessions, comma-separated"})
    tail = Integer(validate=Range(1, 500),
                   metadata={"description": "start with the last N stored events"})
    lastEventId = String(validate=Length(1, 64),
                         metadata={"description": "resume after this event (as Last-Event-ID)"})
    token = String(validate=Length(1, 200),
                   metadata={"description": "a POST /auth/stream-token token, for EventSource"})


class RecentQuery(Schema):
    limit = Integer(load_default=100, validate=Range(1, 500),
                    metadata={"description": "how many of the newest stored events"})


_CAPTION = Length(max=4096)


class ListQuery(Schema):
    refresh = Boolean(load_default=False, metadata={"description": "skip the cache"})


class MessagesQuery(Schema):
    limit = Integer(load_default=50, validate=Range(1, 500))


# A bound of the stored history: a cursor from a page (`next`, or a message's `cursor`), or
# unix seconds (the messages' `timestamp`).
HISTORY_BOUND = r"^(?:c[0-9]{1,19}|[0-9]{1,10})$"


class HistoryQuery(Schema):
    chat = String(validate=_RECIPIENT, metadata={"description": "one chat's messages only"})
    before = String(validate=Pattern(HISTORY_BOUND, error="A cursor (c…) or unix seconds."),
                    metadata={"description": "older than this: a cursor (`next`, or a "
                                             "message's `cursor`) or unix seconds",
                              "example": "1765015200"})
    after = String(validate=Pattern(HISTORY_BOUND, error="A cursor (c…) or unix seconds."),
                   metadata={"description": "newer than this: a cursor or unix seconds"})
    q = String(validate=Length(1, 200), metadata={
        "description": "words the text or caption holds, all of them (case and accents "
                       "ignored); `word*` matches words it begins"})
    type = String(validate=Pattern(r"^[a-z_]{1,32}$", error="A message type (chat, image, …)."),
                  metadata={"description": "chat, image, video, audio, ptt, document, sticker, "
                                           "location, vcard, poll_creation, revoked, …"})
    limit = Integer(load_default=50, validate=Range(1, 500))


class LocationIn(Schema):
    to = String(required=True, validate=_RECIPIENT)
    latitude = JSONNumber(required=True, validate=Range(-90, 90))
    longitude = JSONNumber(required=True, validate=Range(-180, 180))
    name = String(validate=Length(max=256))
    address = String(validate=Length(max=512))


class MediaFileIn(Schema):
    data = String(required=True, validate=Length(min=1),
                  metadata={"description": "base64, or a data: URL"})
    filename = String(required=True, validate=Length(1, 255))
    mimetype = String(validate=Length(max=128))


class MediaJSONIn(Schema):
    to = String(required=True, validate=_RECIPIENT)
    caption = String(validate=_CAPTION)
    media = Nested(MediaFileIn, required=True)


class MediaFormIn(Schema):
    """The text fields of a multipart media upload (the file is the part named `file`)."""

    to = String(required=True, validate=_RECIPIENT)
    caption = String(validate=_CAPTION)


class EditIn(Schema):
    text = String(required=True, validate=Length(1, 65536), metadata={"example": "Fixed typo"})


class ForwardIn(Schema):
    to = String(required=True, validate=_RECIPIENT,
                metadata={"description": "a phone number or a WhatsApp chat id"})


class ContactCardIn(Schema):
    id = String(required=True, validate=_RECIPIENT,
                metadata={"description": "the contact's phone number or …@c.us id"})
    name = String(validate=Length(1, 256), metadata={"description": "shown on the card"})


class ContactIn(Schema):
    to = String(required=True, validate=_RECIPIENT)
    contacts = List(Nested(ContactCardIn), required=True, validate=Length(1, 20))


class PollIn(Schema):
    to = String(required=True, validate=_RECIPIENT)
    name = String(required=True, validate=Length(1, 255), metadata={"example": "Lunch?"})
    options = List(String(validate=Length(1, 100)), required=True, validate=Length(2, 12),
                   metadata={"example": ["Nasi goreng", "Sate"], "uniqueItems": True})
    selectableCount = JSONInteger(load_default=0, validate=Range(0, 12),
                              metadata={"description": "how many a voter may pick; 0 = any"})

    @validates_schema
    def _options(self, data, **kwargs):
        if len(set(data.get("options", []))) != len(data.get("options", [])):
            raise SchemaError("The options must differ", "options")
        if data.get("selectableCount", 0) > len(data.get("options", [])):
            raise SchemaError("More than the number of options", "selectableCount")


class StarIn(Schema):
    star = JSONBoolean(load_default=True, metadata={"description": "false unstars"})


class PinIn(Schema):
    pin = JSONBoolean(load_default=True, metadata={"description": "false unpins"})
    duration = String(load_default="SevenDays",
                      validate=OneOf(("OneDay", "SevenDays", "ThirtyDays")),
                      metadata={"description": "how long it stays pinned"})


class MessageDeleteQuery(Schema):
    forEveryone = Boolean(load_default=False,
                          metadata={"description": "revoke it for every participant (own "
                                                   "messages only); else delete here only"})


class ReactionIn(Schema):
    emoji = String(required=True, validate=[Length(max=16), Pattern(
                       EMOJI_PATTERN, error="Must be an emoji, or empty to remove the reaction.")],
                   metadata={"example": "👍", "description": "empty string removes"})


class GroupCreateIn(Schema):
    name = String(required=True, validate=Length(1, 100))
    participants = List(String(validate=_PERSON), required=True, validate=Length(1, 256))


class ParticipantsIn(Schema):
    add = List(String(validate=_PERSON), validate=Length(1, 256))
    remove = List(String(validate=_PERSON), validate=Length(1, 256))

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data.get("add") and not data.get("remove"):
            raise SchemaError("Give 'add' or 'remove' (a list of phone numbers or ids).")


# What the @validates_schema checks above enforce across fields, stated in the document
# (docs/build.py adds them to the component schemas).
CROSS_FIELD_RULES = {
    "ParticipantsIn": {"anyOf": [{"required": ["add"]}, {"required": ["remove"]}]},
    "WebhookPutIn": {"not": {"required": ["generateSecret", "secret"],
                             "properties": {"generateSecret": {"const": True},
                                            "secret": {"minLength": 1}}}},
    "LabelsIn": {"anyOf": [{"required": ["add"]}, {"required": ["remove"]}]},
    # Written with `const` only under `not`: client generators (openapi-python-client) turn a
    # boolean `const` into code that does not compile.
    "MuteIn": {"oneOf": [
        {"required": ["duration"], "not": {"anyOf": [
            {"required": ["until"]}, {"required": ["mute"], "properties": {"mute": {"const": False}}}]}},
        {"required": ["until"], "not": {"anyOf": [
            {"required": ["duration"]}, {"required": ["mute"], "properties": {"mute": {"const": False}}}]}},
        {"required": ["mute"], "not": {"anyOf": [
            {"required": ["duration"]}, {"required": ["until"]},
            {"properties": {"mute": {"const": True}}}]}}]},
}


# ---- chats: presence, archive, pin, mute, clear, labels (api/chats.py) ----
CHAT_PRESENCE_STATES = ("typing", "recording", "paused")
LABEL_ID_PATTERN = r"^[0-9]{1,10}$"
MUTE_MAX_SECONDS = 10 * 365 * 86400  # "always" in practice


class ChatPresenceIn(Schema):
    state = String(required=True, validate=OneOf(CHAT_PRESENCE_STATES), metadata={
        "description": "typing or recording (shown until paused, or for about 25 s)"})


class PresenceIn(Schema):
    available = JSONBoolean(required=True, metadata={
        "description": "true: the account shows as online; false: offline (last seen)"})


class ArchiveIn(Schema):
    archive = JSONBoolean(load_default=True, metadata={"description": "false unarchives"})


class Instant(Raw):
    """A point in time: unix seconds, or ISO 8601 (no zone: UTC); loads as unix seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not 0 <= value < 2**33:
                raise SchemaError("Unix seconds between 0 and 2**33.")
            return float(value)
        if isinstance(value, str) and 0 < len(value) <= 40:
            try:
                when = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value.strip()))
            except ValueError:
                pass
            else:
                when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
                try:
                    return when.timestamp()
                except OverflowError:  # year 1 or 9999 with an offset: before or after all
                    return 0.0 if when.year < 1970 else float(2**33)
        raise SchemaError("An ISO 8601 time ('2026-12-06T10:00:00Z') or unix seconds.")


class ResyncIn(Schema):
    since = Instant(required=True, metadata={
        "description": "compare the chat's messages from this time on: ISO 8601 "
                       "(`2026-12-06T10:00:00Z`; no zone: UTC) or unix seconds",
        "oneOf": [{"type": "string", "format": "date-time", "maxLength": 40},
                  {"type": "number", "minimum": 0, "maximum": 2**33 - 1}],
        "example": "2026-12-06T10:00:00Z"})


class ChatPinIn(Schema):
    pin = JSONBoolean(load_default=True, metadata={"description": "false unpins"})


class MuteIn(Schema):
    mute = JSONBoolean(load_default=True, metadata={
        "description": "false unmutes (then give neither duration nor until)"})
    duration = JSONInteger(validate=Range(1, MUTE_MAX_SECONDS),
                           metadata={"description": "mute for this many seconds"})
    until = JSONInteger(validate=Range(1, 2**31 - 1),
                        metadata={"description": "mute until this time (unix seconds, future)"})

    @validates_schema
    def _one_time(self, data, **kwargs):
        given = [k for k in ("duration", "until") if k in data]
        if data.get("mute", True) and len(given) != 1:
            raise SchemaError("Give 'duration' or 'until' (one of them), or 'mute': false.")
        if not data.get("mute", True) and given:
            raise SchemaError("'mute': false takes neither 'duration' nor 'until'.")


class ClearIn(Schema):
    keepStarred = JSONBoolean(load_default=True, metadata={
        "description": "keep starred messages (as WhatsApp does by default)"})


class LabelCreateIn(Schema):
    name = String(required=True, validate=Length(1, 100))
    color = JSONInteger(validate=Range(0, 19), metadata={
        "description": "index in WhatsApp Business's label palette; default: the next one"})


class LabelsIn(Schema):
    add = List(String(validate=Pattern(LABEL_ID_PATTERN)), validate=Length(1, 20),
               metadata={"description": "label ids to add to the chat"})
    remove = List(String(validate=Pattern(LABEL_ID_PATTERN)), validate=Length(1, 20),
                  metadata={"description": "label ids to remove from the chat"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data.get("add") and not data.get("remove"):
            raise SchemaError("Give 'add' or 'remove' (label ids).")
# ---- the account's profile, the blocklist and group administration (api/profile.py, groups.py)

# WhatsApp's own limits: a profile name of 25 characters, an About of 139, a subject of 100,
# a description of 2048.
class ProfilePatchIn(Schema):
    name = String(validate=Length(1, 25), metadata={"example": "Support desk"})
    about = String(validate=Length(0, 139), metadata={"example": "Answering 9 to 5"})

    @validates_schema
    def _one_of(self, data, **kwargs):
        if "name" not in data and "about" not in data:
            raise SchemaError("Give 'name' and/or 'about'.")


class ProfilePictureIn(Schema):
    """The photo as JSON: `media` {data: base64 or a data: URL, filename, mimetype?}."""

    media = Nested(MediaFileIn, required=True)


class ProfilePictureFormIn(Schema):
    """A multipart photo upload has only the part named `file`."""


class GroupSettingsIn(Schema):
    announce = JSONBoolean(metadata={"description": "true: only admins may send messages"})
    restrict = JSONBoolean(metadata={"description": "true: only admins may edit the subject, "
                                                    "description and settings"})

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data:
            raise SchemaError("Give 'announce' and/or 'restrict'.")


class GroupUpdateIn(Schema):
    subject = String(validate=Length(1, 100), metadata={"example": "Team room"})
    description = String(validate=Length(0, 2048))
    settings = Nested(GroupSettingsIn)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data:
            raise SchemaError("Give 'subject', 'description' and/or 'settings'.")


class AdminsIn(Schema):
    promote = List(String(validate=_PERSON), validate=Length(1, 256))
    demote = List(String(validate=_PERSON), validate=Length(1, 256))

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data.get("promote") and not data.get("demote"):
            raise SchemaError("Give 'promote' or 'demote' (a list of phone numbers or ids).")


# An invite link as WhatsApp shares it, or its bare code.
INVITE_LINK_PATTERN = (r"^\s*(?:(?:https?://)?chat\.whatsapp\.com/(?:invite/)?)?"
                       r"[0-9A-Za-z]{6,64}\s*$")


class JoinGroupIn(Schema):
    link = String(required=True, validate=[Length(1, 256), Pattern(
        INVITE_LINK_PATTERN, error="Not an invite link (https://chat.whatsapp.com/…) or code.")],
        metadata={"example": "https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv"})


def invite_code(link: str) -> str:
    """The code of an invite link (the link's last path segment)."""
    return link.strip(_SPACE).rstrip("/").rsplit("/", 1)[-1]


CROSS_FIELD_RULES.update({
    "ProfilePatchIn": {"anyOf": [{"required": ["name"]}, {"required": ["about"]}]},
    "GroupSettingsIn": {"minProperties": 1},
    "GroupUpdateIn": {"minProperties": 1},
    "AdminsIn": {"anyOf": [{"required": ["promote"]}, {"required": ["demote"]}]},
})


# ---- channels (api/channels.py): WhatsApp's limits, a name of 100, a description of 2048
CHANNEL_ID_PATTERN = r"^[0-9]{1,32}@newsletter$"
_CHANNEL_ID = re.compile(CHANNEL_ID_PATTERN, re.ASCII)


def channel_id(value: str) -> str:
    if not _CHANNEL_ID.fullmatch(value or ""):
        raise ValidationError(f"{value!r} is not a channel id (…@newsletter)",
                              details={"field": "channelId"})
    return value


class ChannelCreateIn(Schema):
    name = String(required=True, validate=Length(1, 100), metadata={"example": "Daily deals"})
    description = String(validate=Length(0, 2048))
    picture = Nested(MediaFileIn, metadata={"description": "a JPEG or PNG"})


class ChannelUpdateIn(Schema):
    name = String(validate=Length(1, 100))
    description = String(validate=Length(0, 2048))
    picture = Nested(MediaFileIn, metadata={"description": "a JPEG or PNG"})

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data:
            raise SchemaError("Give 'name', 'description' and/or 'picture'.")


class ChannelPollIn(Schema):
    name = String(required=True, validate=Length(1, 255))
    options = List(String(validate=Length(1, 100)), required=True, validate=Length(2, 12),
                   metadata={"uniqueItems": True})
    selectableCount = JSONInteger(load_default=0, validate=Range(0, 12),
                                  metadata={"description": "how many a voter may pick; 0 = any"})

    @validates_schema
    def _options(self, data, **kwargs):
        PollIn._options(self, data)


class ChannelPostIn(Schema):
    """Exactly one of `text`, `media` (an image or a video, with `caption`) and `poll`."""

    text = String(validate=Length(1, 65536))
    media = Nested(MediaFileIn, metadata={"description": "a JPEG, PNG or MP4"})
    caption = String(validate=_CAPTION)
    poll = Nested(ChannelPollIn)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if sum(k in data for k in ("text", "media", "poll")) != 1:
            raise SchemaError("Give exactly one of 'text', 'media' and 'poll'.")
        if "caption" in data and "media" not in data:
            raise SchemaError("A caption goes with 'media'.", "caption")


class ChannelFollowersQuery(Schema):
    limit = Integer(load_default=100, validate=Range(1, 1000))


CROSS_FIELD_RULES.update({
    "ChannelUpdateIn": {"minProperties": 1},
    "ChannelPostIn": {"oneOf": [
        {"required": ["text"], "not": {"anyOf": [{"required": ["media"]}, {"required": ["poll"]},
                                                 {"required": ["caption"]}]}},
        {"required": ["media"], "not": {"anyOf": [{"required": ["text"]}, {"required": ["poll"]}]}},
        {"required": ["poll"], "not": {"anyOf": [{"required": ["text"]}, {"required": ["media"]},
                                                 {"required": ["caption"]}]}}]},
})


# ---- status posts (api/status.py): wa-js's fonts 0..5, a background colour #RRGGBB
STATUS_COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
STATUS_ID_PATTERN = r"^true_status@broadcast_[0-9A-Za-z]{8,64}(?:_[0-9A-Za-z._:-]{1,64}@(?:c\.us|lid))?$"
_STATUS_ID = re.compile(STATUS_ID_PATTERN, re.ASCII)


def status_id(value: str) -> str:
    if not _STATUS_ID.fullmatch(value or ""):
        raise ValidationError(f"{value!r} is not one of the account's status ids "
                              "(true_status@broadcast_…)", details={"field": "statusId"})
    return value


class StatusPostIn(Schema):
    """A text (`text`, `backgroundColor`?, `font`?) or an image or video (`media`, `caption`?)."""

    text = String(validate=Length(1, 700), metadata={"example": "Open until 9 tonight"})
    backgroundColor = String(validate=Pattern(STATUS_COLOR_PATTERN, error="A colour #RRGGBB."),
                             metadata={"example": "#0275D8"})
    font = JSONInteger(validate=Range(0, 5), metadata={"description": "WhatsApp's fonts 0 to 5"})
    media = Nested(MediaFileIn, metadata={"description": "a JPEG, PNG or MP4"})
    caption = String(validate=_CAPTION)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if ("text" in data) == ("media" in data):
            raise SchemaError("Give 'text' or 'media'.")
        if "media" in data and ("backgroundColor" in data or "font" in data):
            raise SchemaError("backgroundColor and font go with 'text'.")
        if "text" in data and "caption" in data:
            raise SchemaError("A caption goes with 'media'.", "caption")


CROSS_FIELD_RULES.update({
    "StatusPostIn": {"oneOf": [
        {"required": ["text"], "not": {"anyOf": [{"required": ["media"]},
                                                 {"required": ["caption"]}]}},
        {"required": ["media"], "not": {"anyOf": [{"required": ["text"]},
                                                  {"required": ["backgroundColor"]},
                                                  {"required": ["font"]}]}}]},
})


# ---- communities (api/communities.py): a name of 100, a description of 2048, as groups
class CommunityCreateIn(Schema):
    name = String(required=True, validate=Length(1, 100), metadata={"example": "Customers"})
    description = String(validate=Length(0, 2048))
    groups = List(String(validate=Pattern(GROUP_ID_PATTERN, error="Not a group id (…@g.us).")),
                  load_default=list, validate=Length(max=100),
                  metadata={"description": "groups to link (the account must be an admin of each)"})


class CommunityGroupsIn(Schema):
    add = List(String(validate=Pattern(GROUP_ID_PATTERN, error="Not a group id (…@g.us).")),
               validate=Length(1, 100))
    remove = List(String(validate=Pattern(GROUP_ID_PATTERN, error="Not a group id (…@g.us).")),
                  validate=Length(1, 100))

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data.get("add") and not data.get("remove"):
            raise SchemaError("Give 'add' or 'remove' (a list of group ids).")


class AnnouncementIn(Schema):
    text = String(required=True, validate=Length(1, 65536))


CROSS_FIELD_RULES.update({
    "CommunityGroupsIn": {"anyOf": [{"required": ["add"]}, {"required": ["remove"]}]},
})
