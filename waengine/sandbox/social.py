"""Sandbox routes for profiles, the blocklist, group administration, channels, statuses
and the network's clock (docs/sandbox.md).

Control routes (`/_sandbox/...`) act as a phone; transport routes (`/_sandbox/api/...`) are the
page's own calls behind its WPP.profile, WPP.blocklist, WPP.contact, WPP.group and
WPP.newsletter and WPP.status functions.
"""

from __future__ import annotations

import io

from flask import Blueprint, send_file

from .context import body, device_auth, network
from .network import SandboxError

control = Blueprint("sandbox_social_control", __name__, url_prefix="/_sandbox")
transport = Blueprint("sandbox_social_transport", __name__, url_prefix="/_sandbox/api")


def _me() -> str:
    return network().device_phone(*device_auth())


# --------------------------------------------------------------------------- control API


@control.post("/phones/<phone>/profile")
def set_phone_profile(phone):
    data = body()
    return network().set_profile(phone, name=data.get("name"), about=data.get("about"),
                                 picture=data.get("picture"))


@control.get("/pictures/<phone>/<version>.jpg")
def picture(phone, version):
    """A profile photo, as WhatsApp's CDN serves it to anyone holding the URL."""
    data, mimetype = network().picture_of(phone, version)
    return send_file(io.BytesIO(data), mimetype=mimetype, max_age=3600)


@control.post("/phones/<phone>/groups/<gid>/<setting>")
def phone_group_setting(phone, gid, setting):
    """A member phone acts on a group: subject, description, announcement, restrict, leave."""
    data = body()
    net = network()
    if setting == "subject":
        return net.set_group_subject(gid, phone, data.get("subject"))
    if setting == "description":
        return net.set_group_description(gid, phone, data.get("description"))
    if setting in ("announcement", "restrict"):
        return net.set_group_property(gid, phone, setting, data.get("value"))
    if setting == "leave":
        return net.leave_group(gid, phone)
    raise SandboxError(404, "not_found", f"No group setting {setting!r}")


@control.post("/invites/<code>/join")
def phone_join(code):
    return network().join_group(code, body().get("phone"))


@control.post("/channels")
def create_channel():
    data = body()
    if not data.get("owner"):
        raise SandboxError(400, "validation_error", "'owner' (a phone) is required")
    return network().create_channel(data["owner"], data.get("name"), data.get("description"),
                                    data.get("picture")), 201


@control.get("/channels/<cid>")
def get_channel(cid):
    return network().get_channel(cid)


@control.post("/channels/<cid>/<action>")
def phone_channel_action(cid, action):
    """A phone acts on a channel: follow, unfollow, edit, delete, admin (the owner appoints)."""
    data = body()
    net = network()
    if action in ("follow", "unfollow"):
        return net.follow_channel(cid, _phone(data, "phone"), follow=action == "follow")
    if action == "edit":
        return net.edit_channel(cid, _phone(data, "by"), data.get("name"),
                                data.get("description"), data.get("picture"))
    if action == "delete":
        return net.delete_channel(cid, _phone(data, "by"))
    if action == "admin":
        return net.set_channel_admin(cid, _phone(data, "phone"), data.get("admin") is not False)
    if action == "posts":
        return net.post_to_channel(cid, _phone(data, "from"), text=data.get("text"),
                                   media=data.get("media"), caption=data.get("caption"),
                                   poll=data.get("poll")), 201
    raise SandboxError(404, "not_found", f"No channel action {action!r}")


@control.post("/channels/<cid>/posts/<msg_id>/view")
def view_channel_post(cid, msg_id):
    """A follower sees a post and, with 'emoji', reacts to it ('' takes it back)."""
    data = body()
    return network().view_channel_post(msg_id, _phone(data, "by"), data.get("emoji"))


@control.post("/communities")
def create_community():
    data = body()
    return network().create_community(_phone(data, "owner"), data.get("name"),
                                      data.get("description"), data.get("groups") or []), 201


@control.get("/communities/<cid>")
def get_community(cid):
    return network().community_view(cid)


@control.post("/statuses/<msg_id>/view")
def view_status(msg_id):
    """A contact opens a status: its poster sees the view."""
    return network().view_status(msg_id, _phone(body(), "by"))


@control.get("/phones/<phone>/statuses")
def statuses_seen_by(phone):
    """The statuses the phone sees now: its contacts' of the last 24 hours."""
    return {"data": network().statuses_seen_by(phone)}


@control.get("/clock")
def get_clock():
    return network().clock()


@control.post("/clock")
def move_clock():
    """Move the network's clock: {"advance": seconds} or {"offset": seconds} (0: real time)."""
    data = body()
    for name in ("advance", "offset"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise SandboxError(400, "validation_error", f"'{name}' must be a number of seconds")
    return network().clock(advance=data.get("advance"), offset=data.get("offset"))


def _phone(data: dict, name: str) -> str:
    if not data.get(name):
        raise SandboxError(400, "validation_error", f"'{name}' (a phone) is required")
    return str(data[name])


# --------------------------------------------------------------------------- transport


@transport.get("/profile/<phone>")
def device_profile_of(phone):
    _me()  # a linked device asks
    return network().profile_of(phone)


@transport.post("/profile")
def device_set_profile():
    data = body()
    return network().set_profile(_me(), name=data.get("name"), about=data.get("about"),
                                 picture=data.get("picture"))


@transport.get("/blocklist")
def device_blocklist():
    return {"blocked": network().blocklist_of(_me())}


@transport.post("/blocklist")
def device_block():
    data = body()
    return {"blocked": network().set_blocked(_me(), data.get("phone"), bool(data.get("blocked")))}


@transport.post("/groups/<gid>/subject")
def device_group_subject(gid):
    return network().set_group_subject(gid, _me(), body().get("subject"))


@transport.post("/groups/<gid>/description")
def device_group_description(gid):
    return network().set_group_description(gid, _me(), body().get("description"))


@transport.post("/groups/<gid>/property")
def device_group_property(gid):
    data = body()
    return network().set_group_property(gid, _me(), str(data.get("property")), data.get("value"))


@transport.post("/groups/<gid>/admins")
def device_group_admins(gid):
    data = body()
    return network().set_group_admins(gid, _me(), data.get("participants"),
                                      bool(data.get("promote")))


@transport.get("/groups/<gid>/invite-code")
def device_invite_code(gid):
    return {"code": network().group_invite_code(gid, _me())}


@transport.post("/groups/<gid>/invite-code/revoke")
def device_revoke_invite_code(gid):
    return {"code": network().group_invite_code(gid, _me(), revoke=True)}


@transport.get("/invites/<code>")
def device_invite_info(code):
    _me()
    return network().group_invite_info(code)


@transport.post("/invites/<code>/join")
def device_join(code):
    return network().join_group(code, _me())


@transport.post("/groups/<gid>/leave")
def device_leave(gid):
    return network().leave_group(gid, _me())


@transport.post("/newsletters")
def device_create_channel():
    data = body()
    me = _me()
    channel = network().create_channel(me, data.get("name"), data.get("description"),
                                       data.get("picture"))
    return _with_chat(channel, me)


def _with_chat(channel: dict, me: str) -> dict:
    """The page's answer: the channel and its chat, which the page stores at once."""
    return {"channel": channel, "chat": network().channel_chat(channel["id"], me)}


@transport.get("/newsletters/<cid>")
def device_get_channel(cid):
    return network().get_channel(cid, _me())


@transport.post("/newsletters/<cid>/edit")
def device_edit_channel(cid):
    data = body()
    me = _me()
    return _with_chat(network().edit_channel(cid, me, data.get("name"), data.get("description"),
                                             data.get("picture")), me)


@transport.post("/newsletters/<cid>/delete")
def device_delete_channel(cid):
    return network().delete_channel(cid, _me())


@transport.post("/newsletters/<cid>/follow")
def device_follow_channel(cid):
    me = _me()
    return _with_chat(network().follow_channel(cid, me, follow=body().get("follow") is not False),
                      me)


@transport.get("/newsletters/<cid>/followers")
def device_channel_followers(cid):
    return {"followers": network().channel_followers(cid, _me())}


@transport.post("/status")
def device_post_status():
    return network().post_status_from_device(*device_auth(), body())


@transport.get("/status/mine")
def device_my_statuses():
    return {"statuses": network().my_statuses(*device_auth())}


@transport.get("/status/<msg_id>/viewers")
def device_status_viewers(msg_id):
    return network().status_viewers(*device_auth(), msg_id)


@transport.post("/status/<msg_id>/revoke")
def device_revoke_status(msg_id):
    return network().revoke_status(*device_auth(), msg_id)


@transport.post("/communities")
def device_create_community():
    data = body()
    made = network().create_community(_me(), data.get("name"), data.get("description"),
                                      data.get("subgroups") or [])
    return {**made, "groups": _groups(made["id"], made["announcementGroup"],
                                      *made["subGroups"]["linkedGroupJids"])}


@transport.post("/communities/<cid>/subgroups")
def device_link_subgroups(cid):
    data = body()
    result = network().link_subgroups(cid, _me(), data.get("subgroups") or [],
                                      link=data.get("link") is not False)
    return {**result, "groups": _groups(cid, *result["linkedGroupJids"])}


@transport.post("/communities/<cid>/deactivate")
def device_deactivate_community(cid):
    return network().deactivate_community(cid, _me())


def _groups(*gids: str) -> list[dict]:
    """The groups' views, which the page stores at once (their chat events follow)."""
    return [network().get_group(g) for g in gids]
