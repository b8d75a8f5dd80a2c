"""Status routes: the account's status posts (stories), who viewed them, deleting one.

A status reaches the account's contacts (those who saved the account too) and is gone 24 h
after it was posted. Contacts' statuses arrive as `status.posted` events with
SYNC_ALL_STATUS on.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from .. import uploads
from . import docs
from .context import page
from .schemas import StatusPostIn, status_id

bp = APIBlueprint("status", __name__, tag="Channels")
MEDIA_TYPES = ("jpg", "jpeg", "png", "mp4")  # wa-js posts image and video statuses


@bp.post("/sessions/<session_id>/status")
@bp.input(StatusPostIn, arg_name="body")
@bp.doc(operation_id="postStatus",
        summary="Post a status: a text (background colour, font) or an image or video",
        responses=docs.responses(docs.Status, 201, errors=(413, 415, 422, *docs.BROWSER_ERRORS)))
def post_status(session_id, body):
    if "text" in body:
        return page(session_id).post_status(
            "text", text=body["text"], backgroundColor=body.get("backgroundColor", "#000000"),
            font=body.get("font", 0)), 201
    media = uploads.media_file(body["media"], int(current_app.config["UPLOAD_MAX_BYTES"]),
                               MEDIA_TYPES)
    return page(session_id).post_status(media.file_type.kind, data=media.data_url(),
                                        caption=body.get("caption")), 201


@bp.get("/sessions/<session_id>/status")
@bp.doc(operation_id="listMyStatuses",
        summary="The account's statuses of the last 24 hours, with who viewed each",
        responses=docs.responses(docs.StatusList, errors=docs.BROWSER_ERRORS))
def list_statuses(session_id):
    return {"data": page(session_id).my_statuses()}


@bp.delete("/sessions/<session_id>/status/<statusId>")
@bp.doc(operation_id="deleteStatus", summary="Delete one of the account's statuses",
        responses=docs.responses(docs.StatusDeleted, errors=(404, 422, *docs.BROWSER_ERRORS)))
def delete_status(session_id, statusId):
    return page(session_id).delete_status(status_id(statusId))
