"""What makes a good generated SDK: stable readable operationIds, tags grouped as the docs."""

import re

from .test_openapi import client, operations, spec  # noqa: F401  (fixtures)

# Renaming one breaks every generated client's method name: change only on purpose.
OPERATION_IDS = {
    ("get", "/health"): "getHealth",
    ("get", "/metrics"): "getMetrics",
    ("get", "/performance"): "getPerformance",
    ("get", "/sessions"): "listSessions",
    ("post", "/sessions"): "createSession",
    ("get", "/sessions/{session_id}"): "getSession",
    ("delete", "/sessions/{session_id}"): "deleteSession",
    ("post", "/sessions/{session_id}/start"): "startSession",
    ("post", "/sessions/{session_id}/reconnect"): "reconnectSession",
    ("post", "/sessions/{session_id}/move"): "moveSession",
    ("post", "/sessions/{session_id}/logout"): "logoutSession",
    ("post", "/sessions/{session_id}/takeover"): "takeoverSession",
    ("get", "/sessions/{session_id}/pairing-code"): "getPairingCode",
    ("get", "/sessions/{session_id}/qr"): "getQr",
    ("post", "/sessions/{session_id}/pairing-code"): "requestPairingCode",
    ("get", "/sessions/{session_id}/pacing"): "getPacing",
    ("put", "/sessions/{session_id}/pacing"): "setPacing",
    ("post", "/sessions/{session_id}/messages"): "sendText",
    ("get", "/sessions/{session_id}/messages"): "listStoredMessages",
    ("post", "/sessions/{session_id}/messages/media"): "sendMedia",
    ("post", "/sessions/{session_id}/messages/location"): "sendLocation",
    ("post", "/sessions/{session_id}/messages/bulk"): "sendBulk",
    ("get", "/sessions/{session_id}/messages/{messageId}"): "getSendStatus",
    ("post", "/sessions/{session_id}/messages/{messageId}/reaction"): "reactToMessage",
    ("get", "/sessions/{session_id}/chats"): "listChats",
    ("get", "/sessions/{session_id}/chats/{chatId}/messages"): "listChatMessages",
    ("post", "/sessions/{session_id}/chats/{chatId}/read"): "markChatRead",
    ("get", "/sessions/{session_id}/contacts"): "listContacts",
    ("get", "/sessions/{session_id}/contacts/{contactId}"): "getContact",
    ("get", "/sessions/{session_id}/contacts/{phone}/exists"): "checkContactExists",
    ("get", "/sessions/{session_id}/groups"): "listGroups",
    ("post", "/sessions/{session_id}/groups"): "createGroup",
    ("post", "/sessions/{session_id}/groups/{groupId}/participants"): "changeParticipants",
    ("delete", "/sessions/{session_id}/cache"): "clearCache",
    ("get", "/sessions/{session_id}/webhook"): "getWebhook",
    ("put", "/sessions/{session_id}/webhook"): "setWebhook",
    ("get", "/sessions/{session_id}/sinks"): "getSinks",
    ("put", "/sessions/{session_id}/sinks"): "setSinks",
    ("delete", "/sessions/{session_id}/webhook"): "deleteWebhook",
    ("get", "/sessions/{session_id}/webhook/deliveries"): "listDeliveries",
    ("post", "/sessions/{session_id}/webhook/deliveries/{event_id}/retry"): "retryDelivery",
    ("get", "/sessions/{session_id}/events"): "streamEvents",
    ("get", "/sessions/{session_id}/events/recent"): "listRecentEvents",
    ("patch", "/sessions/{session_id}/webhook"): "updateWebhook",
    ("put", "/sessions/{session_id}/keep-alive"): "setKeepAlive",
    ("put", "/sessions/{session_id}/proxy"): "setProxy",
    ("get", "/events"): "streamAllEvents",
    ("post", "/auth/stream-token"): "createStreamToken",
    ("get", "/performance/history"): "getPerformanceHistory",
    ("get", "/nodes"): "listNodes",
    ("post", "/nodes/{node_id}/drain"): "drainNode",
    ("get", "/sessions/{session_id}/messages/{messageId}/media"): "downloadMedia",
    ("get", "/media/{session_id}/{name}"): "getStoredMedia",
    ("post", "/sessions/{session_id}/messages/voice"): "sendVoice",
    ("post", "/sessions/{session_id}/messages/sticker"): "sendSticker",
    ("post", "/sessions/{session_id}/messages/contact"): "sendContactCards",
    ("post", "/sessions/{session_id}/messages/poll"): "sendPoll",
    ("delete", "/sessions/{session_id}/messages/{messageId}"): "deleteMessage",
    ("patch", "/sessions/{session_id}/messages/{messageId}"): "editMessage",
    ("post", "/sessions/{session_id}/messages/{messageId}/forward"): "forwardMessage",
    ("post", "/sessions/{session_id}/messages/{messageId}/star"): "starMessage",
    ("post", "/sessions/{session_id}/messages/{messageId}/pin"): "pinMessage",
    ("get", "/sessions/{session_id}/ws"): "streamEventsWebSocket",
    ("get", "/ws"): "streamAllEventsWebSocket",
    ("post", "/sessions/{session_id}/chats/{chatId}/presence"): "setChatPresence",
    ("put", "/sessions/{session_id}/presence"): "setPresence",
    ("post", "/sessions/{session_id}/chats/{chatId}/archive"): "archiveChat",
    ("post", "/sessions/{session_id}/chats/{chatId}/pin"): "pinChat",
    ("post", "/sessions/{session_id}/chats/{chatId}/mute"): "muteChat",
    ("post", "/sessions/{session_id}/chats/{chatId}/clear"): "clearChat",
    ("delete", "/sessions/{session_id}/chats/{chatId}"): "deleteChat",
    ("post", "/sessions/{session_id}/chats/{chatId}/resync"): "resyncChat",
    ("get", "/sessions/{session_id}/labels"): "listLabels",
    ("post", "/sessions/{session_id}/labels"): "createLabel",
    ("put", "/sessions/{session_id}/chats/{chatId}/labels"): "changeChatLabels",
    ("get", "/sessions/{session_id}/profile"): "getProfile",
    ("patch", "/sessions/{session_id}/profile"): "updateProfile",
    ("put", "/sessions/{session_id}/profile/picture"): "setProfilePicture",
    ("get", "/sessions/{session_id}/blocklist"): "getBlocklist",
    ("post", "/sessions/{session_id}/contacts/{contactId}/block"): "blockContact",
    ("delete", "/sessions/{session_id}/contacts/{contactId}/block"): "unblockContact",
    ("get", "/sessions/{session_id}/contacts/{contactId}/profile-picture"):
        "getContactProfilePicture",
    ("get", "/sessions/{session_id}/contacts/{contactId}/about"): "getContactAbout",
    ("patch", "/sessions/{session_id}/groups/{groupId}"): "updateGroup",
    ("post", "/sessions/{session_id}/groups/{groupId}/admins"): "changeAdmins",
    ("get", "/sessions/{session_id}/groups/{groupId}/invite-link"): "getInviteLink",
    ("post", "/sessions/{session_id}/groups/{groupId}/invite-link/revoke"): "revokeInviteLink",
    ("post", "/sessions/{session_id}/groups/join"): "joinGroup",
    ("post", "/sessions/{session_id}/groups/{groupId}/leave"): "leaveGroup",
    ("get", "/sessions/{session_id}/channels"): "listChannels",
    ("post", "/sessions/{session_id}/channels"): "createChannel",
    ("get", "/sessions/{session_id}/channels/{channelId}"): "getChannel",
    ("patch", "/sessions/{session_id}/channels/{channelId}"): "updateChannel",
    ("delete", "/sessions/{session_id}/channels/{channelId}"): "deleteChannel",
    ("post", "/sessions/{session_id}/channels/{channelId}/follow"): "followChannel",
    ("post", "/sessions/{session_id}/channels/{channelId}/unfollow"): "unfollowChannel",
    ("get", "/sessions/{session_id}/channels/{channelId}/followers"): "listChannelFollowers",
    ("post", "/sessions/{session_id}/channels/{channelId}/messages"): "postToChannel",
    ("post", "/sessions/{session_id}/status"): "postStatus",
    ("get", "/sessions/{session_id}/status"): "listMyStatuses",
    ("delete", "/sessions/{session_id}/status/{statusId}"): "deleteStatus",
    ("get", "/sessions/{session_id}/communities"): "listCommunities",
    ("post", "/sessions/{session_id}/communities"): "createCommunity",
    ("get", "/sessions/{session_id}/communities/{communityId}"): "getCommunity",
    ("post", "/sessions/{session_id}/communities/{communityId}/groups"): "changeCommunityGroups",
    ("post", "/sessions/{session_id}/communities/{communityId}/announcements"):
        "announceToCommunity",
    ("post", "/sessions/{session_id}/communities/{communityId}/admins"): "changeCommunityAdmins",
    ("post", "/sessions/{session_id}/communities/{communityId}/deactivate"): "deactivateCommunity",
}
TAGS = ["Sessions", "Messages", "Chats", "Contacts and groups", "Webhooks and events",
        "Channels", "Monitoring"]


def test_every_operation_has_its_stable_camel_case_operation_id(spec):  # noqa: F811
    found = {(method, path): op.get("operationId") for path, method, op in operations(spec)}
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", oid or "") for oid in found.values())
    assert len(set(found.values())) == len(found)
    # A new route must add its id here; an old one must keep its name.
    assert found == OPERATION_IDS


def test_operations_are_grouped_by_the_tags_of_the_docs(spec):  # noqa: F811
    assert [t["name"] for t in spec["tags"]] == TAGS
    assert all(t.get("description") for t in spec["tags"])
    for path, method, op in operations(spec):
        assert len(op["tags"]) == 1 and op["tags"][0] in TAGS, (method, path)
    chats = {path for path, _, op in operations(spec) if op["tags"] == ["Chats"]}
    assert chats == {p for p in spec["paths"] if "/chats" in p or p.endswith("/labels")}



def test_brotli_at_the_chosen_level_beats_gzip_on_a_contacts_list(app):
    """The issue's case: 2,000 contacts (the sandbox's generator) larger in br than in gzip."""
    import random

    from waengine.sandbox.network.seeding import _seed_number, _seed_person

    rng = random.Random("contacts")
    contacts = []
    for _ in range(2000):
        phone, (name, business) = _seed_number(rng), _seed_person(rng)
        contacts.append({"id": f"{phone}@c.us", "phone": phone, "name": name, "pushname": name,
                         "isMyContact": rng.random() > 0.15, "isBusiness": business})
    app.add_url_rule("/_contacts", "contacts_sample",
                     lambda: {"data": contacts, "cached": True})
    http = app.test_client()
    sizes = {}
    for encoding in ("br", "gzip"):
        resp = http.get("/_contacts", headers={"Accept-Encoding": encoding})
        assert resp.headers["Content-Encoding"] == encoding
        sizes[encoding] = len(resp.get_data())
    assert sizes["br"] < sizes["gzip"] * 0.98, sizes
