"""waengine errors: one base class, subclasses set attributes only, one JSON envelope."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Configuration that cannot work; the message is one line for the operator (not HTTP)."""


class WAEngineError(Exception):
    status = 500
    code = "internal_error"
    message = "Internal error"

    def __init__(self, message: str | None = None, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}
        self.headers = headers or {}


class BadRequest(WAEngineError):
    status, code, message = 400, "bad_request", "The request is malformed"


class InvalidJSON(BadRequest):
    code, message = "invalid_json", "The body is not valid JSON"


class Unauthorized(WAEngineError):
    status, code, message = 401, "unauthorized", "A valid API key is required"


class Forbidden(WAEngineError):
    status, code, message = 403, "forbidden", "This API key may not act on this session"


class NotFound(WAEngineError):
    status, code, message = 404, "not_found", "Not found"


class SessionNotFound(NotFound):
    code, message = "session_not_found", "No such session"


class SessionExists(WAEngineError):
    status, code, message = 409, "session_exists", "A session with this id exists"


class SessionNotReady(WAEngineError):
    status, code, message = 409, "session_not_ready", "The session is not in a state for this"


class ValidationError(WAEngineError):
    status, code, message = 422, "validation_error", "The request is not valid"


class IdempotencyKeyReused(ValidationError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request"


class RecipientNotFound(ValidationError):
    code, message = "recipient_not_on_whatsapp", "The recipient is not on WhatsApp"


class NotOwnMessage(ValidationError):
    code, message = "not_own_message", "Only your own messages can be changed so"


class MessageNotEditable(ValidationError):
    code, message = "message_not_editable", "This message can no longer be edited"


class MessageNotPinnable(ValidationError):
    code, message = "message_not_pinnable", "This message cannot be pinned or unpinned now"


class NotBusinessAccount(ValidationError):
    code, message = "not_business_account", "Labels need a WhatsApp Business account"


class ChatPinLimit(ValidationError):
    code, message = "chat_pin_limit", "WhatsApp pins at most 3 chats: unpin one first"


class LabelLimit(WAEngineError):
    status, code, message = 409, "label_limit", "WhatsApp Business keeps at most 20 labels"


class NotGroupAdmin(Forbidden):
    code, message = "not_group_admin", "The session's account is not an admin of this group"


class NotChannelAdmin(Forbidden):
    code, message = "not_channel_admin", "Only the channel's owner and admins may do this"


class NotChannelOwner(Forbidden):
    code, message = "not_channel_owner", "Only the channel's owner may do this"


class ChannelNotFound(NotFound):
    code, message = "channel_not_found", "The account neither owns nor follows this channel"


class NotCommunityAdmin(Forbidden):
    code, message = "not_community_admin", "Only the community's admins may do this"


class NotCommunityOwner(Forbidden):
    code, message = "not_community_owner", "Only the community's creator may do this"


class CommunityNotFound(NotFound):
    code, message = "community_not_found", "The account is in no such community"


class GroupChangeRefused(Forbidden):
    code, message = "group_change_not_allowed", "WhatsApp refused this change to the group"


class InviteLinkInvalid(NotFound):
    code, message = "invalid_invite_link", "No group has this invite link (revoked or mistyped)"


class AlreadyGroupMember(WAEngineError):
    status, code, message = 409, "already_group_member", "The account is already in this group"


class NotGroupMember(WAEngineError):
    status, code, message = 409, "not_group_member", "The account is not in this group"


class RecipientBlocked(ValidationError):
    code, message = "recipient_blocked", "The recipient is blocked: unblock it to send"


class PayloadTooLarge(WAEngineError):
    status, code, message = 413, "payload_too_large", "The request body is too large"


class MediaTooLarge(PayloadTooLarge):
    code, message = "media_too_large", "The media file is larger than MEDIA_MAX_BYTES"


class MediaExpired(WAEngineError):
    status, code, message = 410, "media_expired", "The media is no longer available on WhatsApp"


class UnsupportedMediaType(WAEngineError):
    status, code, message = 415, "unsupported_media_type", "This media type is not accepted"


class UpgradeRequired(WAEngineError):
    status, code, message = 426, "upgrade_required", "This route is a WebSocket: send Upgrade: websocket"


class TooManyRequests(WAEngineError):
    status, code, message = 429, "too_many_requests", "Too many requests"


class CapacityExceeded(WAEngineError):
    status, code, message = 503, "capacity_exceeded", "No capacity for another session"


class BrowserUnavailable(WAEngineError):
    status, code, message = 503, "browser_unavailable", "The session's browser is restarting"

    def __init__(self, message=None, details=None, retry_after: int = 5):
        super().__init__(message, details, {"Retry-After": str(retry_after)})


class WhatsAppUnavailable(WAEngineError):
    """WhatsApp did not answer (a number lookup that kept failing): not a "no", try later."""

    status, code, message = 503, "whatsapp_unavailable", "WhatsApp did not answer; try again"

    def __init__(self, message=None, details=None, retry_after: int = 15):
        super().__init__(message, details, {"Retry-After": str(retry_after)})


class SendFailed(WAEngineError):
    """WhatsApp did not take a send (its SendMsgResult is in details.waCode)."""

    status, code, message = 502, "send_failed", "WhatsApp did not take the message"


class SendFailedTransient(SendFailed):
    """A send WhatsApp refused for a passing reason (network, upload): tried again."""


class ServiceUnavailable(WAEngineError):
    status, code, message = 503, "service_unavailable", "The gateway cannot serve this now"


class StorageUnavailable(WAEngineError):
    """The database cannot be written now (locked, disk full, I/O error); it is retried."""

    status, code, message = 503, "storage_unavailable", "The gateway's database is unavailable"

    def __init__(self, message=None, details=None, retry_after: int = 5):
        super().__init__(message, details, {"Retry-After": str(retry_after)})


class LeaseLost(WAEngineError):
    """A write for a session whose lease this node no longer holds (another node took it over:
    a newer epoch). The store refuses it; the session is another node's."""

    status, code, message = 503, "session_moving", "The session is owned by another node"

    def __init__(self, message=None, details=None, retry_after: int = 2):
        super().__init__(message, details, {"Retry-After": str(retry_after)})


class CommandTimeout(WAEngineError):
    status, code, message = 504, "command_timeout", "The browser did not answer in time"


class ForwardTimeout(WAEngineError):
    """Cluster mode: the node running the session took a forwarded command and did not answer
    in time; its outcome is unknown (an Idempotency-Key makes a retried send safe)."""

    status, code, message = 504, "forward_timeout", "The node running the session did not answer in time"


class WhatsAppError(WAEngineError):
    """An error WhatsApp (wa-js or the sandbox page) returned; `details.waCode` keeps its code."""

    status, code, message = 502, "whatsapp_error", "WhatsApp Web returned an error"


# wa-js error codes that mean the client asked for something that is not there or not valid.
_WA_CODE_MAP = {
    "chat_not_found": NotFound,
    "msg_not_found": NotFound,
    "group_participant_not_found": NotFound,
    "invalid_wid": ValidationError,
    "participant_not_exists": RecipientNotFound,
    "recipient_not_on_whatsapp": RecipientNotFound,
    "invalid_data_url": ValidationError,
    "file_too_large": PayloadTooLarge,
    "not_a_group": ValidationError,
    "contact_not_found": NotFound,
    "unknown_group": ValidationError,
    "group_you_are_not_admin": NotGroupAdmin,
    "not_valid_group_participants": ValidationError,
    "group_participant_is_not_a_group_member": ValidationError,
    "mentioned_list_is_not_array": ValidationError,
    "mentioned_is_not_user": ValidationError,
    "invalid_quoted_msg": ValidationError,
    "quoted_msg_can_not_reply": ValidationError,
    "message_not_contains_media": NotFound,
    "media_not_found": MediaExpired,
    "media_too_large": MediaTooLarge,
    "not_own_message": NotOwnMessage,
    "message_not_editable": MessageNotEditable,
    "edit_message_error": MessageNotEditable,
    "message_not_pinnable": MessageNotPinnable,
    "whatsapp_unavailable": WhatsAppUnavailable,
    # bridge.js sent(): "send_" + the SendMsgResult (whatsapp/enums/SendMsgResult.d.ts).
    # Transient: the connection (ERROR_NETWORK) or the media upload (ERROR_UPLOAD) failed;
    # EXPIRED, CANCELLED and UNKNOWN would fail the same way again.
    "send_error_network": SendFailedTransient,
    "send_error_upload": SendFailedTransient,
    "send_error_expired": SendFailed,
    "send_error_cancelled": SendFailed,
    "send_error_unknown": SendFailed,
    "is_not_business": NotBusinessAccount,
    "chat_pin_limit": ChatPinLimit,
    "label_not_found": NotFound,
    "label_limit": LabelLimit,
    "invalid_time_mute": ValidationError,
    "negative_time_mute": ValidationError,
    "color_not_in_pallet": ValidationError,
    # contacts, profile and group administration (wa-js 4.6.0 dist/group/functions)
    "you_are_not_allowed_set_group_subject": NotGroupAdmin,
    "you_are_not_allowed_set_group_description": NotGroupAdmin,
    "you_are_not_allowed_set_group_property": NotGroupAdmin,
    "you_are_not_allowed_set_ephemeral_setting": NotGroupAdmin,
    "group_participant_is_already_a_group_admin": ValidationError,
    "group_participant_is_already_not_a_group_admin": ValidationError,
    "not_authorized": GroupChangeRefused,
    "not_a_participant": NotGroupMember,
    "not_group_member": NotGroupMember,
    "already_group_member": AlreadyGroupMember,
    "invalid_invite_code": InviteLinkInvalid,
    "recipient_blocked": RecipientBlocked,
    "cannot_block_self": ValidationError,
    # channels (wa-js 4.6.0 dist/newsletter/functions; bridge.js adminChannel)
    "not_channel_admin": NotChannelAdmin,
    "not_newsletter_admin": NotChannelAdmin,
    "newsletter_subscribers_require_admin": NotChannelAdmin,
    "not_channel_owner": NotChannelOwner,
    "not_newsletter_owner": NotChannelOwner,
    "channel_not_found": ChannelNotFound,
    "not_a_newsletter": ChannelNotFound,
    "newsletter_not_found": ChannelNotFound,
    "type_not_valid_for_newsletter": ValidationError,
    "invalid_newsletter_id": ValidationError,
    "send_correctly_newsletter_id": ValidationError,
    # status posts (wa-js 4.6.0 dist/status/functions)
    "error_on_remove_status": NotFound,
    "invalid_color": ValidationError,
    # communities (wa-js 4.6.0 dist/community/functions; bridge.js communityChat)
    "community_not_found": CommunityNotFound,
    "not_community_admin": NotCommunityAdmin,
    "not_community_owner": NotCommunityOwner,
    "group_not_exist": CommunityNotFound,
    "announcement_group": NotCommunityAdmin,
}


def from_page_error(wa_code: str, message: str) -> WAEngineError:
    """Turn an error envelope from the page into the waengine error a client should see."""
    cls = _WA_CODE_MAP.get(wa_code, WhatsAppError)
    return cls(message or wa_code, details={"waCode": wa_code})


def rebuild_error(err: dict) -> WAEngineError:
    """The error a stored send ended with, raised again for the client that asks about it."""
    error = WAEngineError(err.get("message"), err.get("details"))
    error.status, error.code = err.get("status", 500), err.get("code", "internal_error")
    return error


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "too_many_requests", 431: "request_header_fields_too_large",
}


def envelope(status: int, code: str, message: str, details: dict | None = None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return body, status, headers or {}


def init_app(app) -> None:
    """Register the handlers that turn every error into the JSON envelope."""

    @app.errorhandler(WAEngineError)
    def _own(error: WAEngineError):
        return envelope(error.status, error.code, error.message, error.details, error.headers)

    # apiflask hands werkzeug's HTTP errors and schema validation errors to this one processor.
    @app.error_processor
    def _http(error):
        status = error.status_code
        code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
        details = error.detail if isinstance(error.detail, dict) else {}
        message = "The request is not valid" if status == 422 else error.message
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message, details = f"The request body is larger than {limit} bytes", {"limit": limit}
        return envelope(status, code, message, details, dict(error.headers or {}))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return envelope(500, "internal_error", "Internal error")
