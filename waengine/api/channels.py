"""Channel routes (WhatsApp's newsletters): create, list, edit, delete, follow, post.

Posting is the owner's and its admins' (403 `not_channel_admin` otherwise); a channel takes
texts, images, videos and polls. Followers' posts arrive as `channel.message` events.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from .. import shapes, uploads
from ..engine.page import file_args, poll_args, text_args
from . import docs
from .context import page
from .schemas import (
    ChannelCreateIn,
    ChannelFollowersQuery,
    ChannelPostIn,
    ChannelUpdateIn,
    channel_id,
)

bp = APIBlueprint("channels", __name__, tag="Channels")
PICTURE_TYPES = ("jpg", "png")  # what WhatsApp re-encodes as the channel's JPEG picture
POST_TYPES = ("jpg", "jpeg", "png", "mp4")  # a channel takes images and videos
ADMIN_ERRORS = (403, 404, 422, *docs.BROWSER_ERRORS)


def picture(body: dict) -> str | None:
    """The picture field as a data: URL, checked like an upload."""
    if "picture" not in body:
        return None
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    return uploads.media_file(body["picture"], limit, PICTURE_TYPES).data_url()


@bp.get("/sessions/<session_id>/channels")
@bp.doc(operation_id="listChannels", summary="The channels the account owns, administers or follows",
        responses=docs.responses(docs.ChannelList, errors=docs.BROWSER_ERRORS))
def list_channels(session_id):
    return {"data": page(session_id).list_channels()}


@bp.post("/sessions/<session_id>/channels")
@bp.input(ChannelCreateIn, arg_name="body")
@bp.doc(operation_id="createChannel", summary="Create a channel (the account is its owner)",
        responses=docs.responses(docs.Channel, 201, errors=(413, 415, 422, *docs.BROWSER_ERRORS)))
def create_channel(session_id, body):
    return page(session_id).create_channel(body["name"], body.get("description"),
                                           picture(body)), 201


@bp.get("/sessions/<session_id>/channels/<channelId>")
@bp.doc(operation_id="getChannel", summary="A channel the account owns or follows",
        responses=docs.responses(docs.Channel, errors=(404, 422, *docs.BROWSER_ERRORS)))
def get_channel(session_id, channelId):
    return page(session_id).get_channel(channel_id(channelId))


@bp.patch("/sessions/<session_id>/channels/<channelId>")
@bp.input(ChannelUpdateIn, arg_name="body")
@bp.doc(operation_id="updateChannel",
        summary="Change the name, description and/or picture (owner and admins)",
        responses=docs.responses(docs.Channel, errors=(413, 415, *ADMIN_ERRORS)))
def update_channel(session_id, channelId, body):
    return page(session_id).edit_channel(channel_id(channelId), body.get("name"),
                                         body.get("description"), picture(body))


@bp.delete("/sessions/<session_id>/channels/<channelId>")
@bp.doc(operation_id="deleteChannel", summary="Delete a channel (its owner only)",
        responses=docs.responses(docs.ChannelDeleted, errors=ADMIN_ERRORS))
def delete_channel(session_id, channelId):
    return page(session_id).delete_channel(channel_id(channelId))


@bp.post("/sessions/<session_id>/channels/<channelId>/follow")
@bp.doc(operation_id="followChannel", summary="Follow a channel: its posts arrive as "
        "channel.message events", responses=docs.responses(docs.ChannelFollow,
                                                           errors=(404, 422, *docs.BROWSER_ERRORS)))
def follow_channel(session_id, channelId):
    return page(session_id).follow_channel(channel_id(channelId), True)


@bp.post("/sessions/<session_id>/channels/<channelId>/unfollow")
@bp.doc(operation_id="unfollowChannel", summary="Stop following a channel",
        responses=docs.responses(docs.ChannelFollow, errors=(404, 422, *docs.BROWSER_ERRORS)))
def unfollow_channel(session_id, channelId):
    return page(session_id).follow_channel(channel_id(channelId), False)


@bp.get("/sessions/<session_id>/channels/<channelId>/followers")
@bp.input(ChannelFollowersQuery, location="query", arg_name="query")
@bp.doc(operation_id="listChannelFollowers",
        summary="Who follows a channel (owner and admins; WhatsApp caps the list)",
        responses=docs.responses(docs.ChannelFollowers, errors=ADMIN_ERRORS))
def channel_followers(session_id, channelId, query):
    return {"data": page(session_id).channel_followers(channel_id(channelId), query["limit"])}


@bp.post("/sessions/<session_id>/channels/<channelId>/messages")
@bp.input(ChannelPostIn, arg_name="body")
@bp.doc(operation_id="postToChannel",
        summary="Post a text, an image or video (JSON base64) or a poll (owner and admins)",
        responses=docs.responses(docs.Message, 201, errors=(413, 415, *ADMIN_ERRORS)))
def post_to_channel(session_id, channelId, body):
    to = channel_id(channelId)
    if "media" in body:
        media = uploads.media_file(body["media"], int(current_app.config["UPLOAD_MAX_BYTES"]),
                                   POST_TYPES)
        kind, args = "file", file_args(to, media.data_url(), media.filename, media.mimetype,
                                       media.file_type.kind, body.get("caption"))
    elif "poll" in body:
        poll = body["poll"]
        kind, args = "poll", poll_args(to, poll["name"], poll["options"], poll["selectableCount"])
    else:
        kind, args = "text", text_args(to, body["text"])
    return shapes.message(page(session_id).send_channel(kind, args)), 201
