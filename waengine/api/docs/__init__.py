"""The OpenAPI document: response schemas, the error envelope, the auth scheme, offline /docs.

Request schemas (schemas.py) validate input and describe it; the schemas here only describe
what views return, so views keep returning plain dicts (no @output filtering). Routes name
their success schema and their own error statuses with `responses()`; what every route shares
(401/403, malformed bodies, the envelope, path parameter patterns) is added once, in
`complete_spec`, so a new route is documented consistently without repeating it.
"""

from .build import init_app
from .channels import (
    Channel,
    ChannelDeleted,
    ChannelFollow,
    ChannelFollowers,
    ChannelList,
    Status,
    StatusDeleted,
    StatusList,
)
from .chats import Chat, ChatList, ReadReceipt
from .contacts import Contact, ContactList, Exists
from .errors import BROWSER_ERRORS, ERRORS, NOT_MODIFIED, Error, ErrorDetail, responses
from .events import (
    Delivery,
    DeliveryList,
    Event,
    EventList,
    Retried,
    Sink,
    Sinks,
    StreamToken,
    Webhook,
)
from .groups import (
    Community,
    CommunityList,
    Deactivated,
    Group,
    GroupList,
    InviteLink,
    JoinedGroup,
    LeftGroup,
    Participant,
)
from .messages import (
    Deleted,
    Forwarded,
    Location,
    Message,
    MessageList,
    Pinned,
    Queued,
    QueuedList,
    Reaction,
    Starred,
    StoredMedia,
)
from .monitoring import (
    Capacity,
    Drain,
    Health,
    HistoryPoint,
    Node,
    NodeList,
    Performance,
    PerformanceFigures,
    PerformanceHistory,
    SessionMemory,
)
from .profile import About, Blocked, Blocklist, Profile, ProfilePicture
from .sessions import (
    Activity,
    BrowserInfo,
    Cleared,
    Me,
    Pacing,
    PacingOut,
    PairingCode,
    QrCode,
    Session,
    SessionList,
    WebhookSummary,
)

__all__ = [
    "Activity", "BROWSER_ERRORS", "BrowserInfo", "Capacity", "Channel", "ChannelDeleted",
    "ChannelFollow", "ChannelFollowers", "ChannelList", "Chat", "ChatList", "Cleared",
    "Status", "StatusDeleted", "StatusList", "Community", "CommunityList", "Deactivated",
    "Contact", "ContactList", "Deleted", "Delivery", "DeliveryList", "ERRORS", "Error",
    "ErrorDetail", "Event", "EventList", "Exists", "Forwarded", "Group", "GroupList", "Health",
    "HistoryPoint", "Node", "NodeList", "Drain",
    "Location", "Me", "Message", "MessageList", "NOT_MODIFIED", "Pacing", "PacingOut",
    "PairingCode", "Participant", "Performance", "PerformanceFigures", "PerformanceHistory",
    "Pinned", "QrCode", "Queued", "QueuedList", "Reaction", "ReadReceipt", "Retried", "Session",
    "SessionList", "SessionMemory", "Sink", "Sinks", "Starred", "StoredMedia", "StreamToken", "Webhook",
    "WebhookSummary", "init_app", "responses",
    "About", "Blocked", "Blocklist", "InviteLink", "JoinedGroup", "LeftGroup", "Profile",
    "ProfilePicture",
]
