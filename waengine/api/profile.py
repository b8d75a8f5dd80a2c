"""The account's own profile, the blocklist, and what contacts show (photo, About)."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, request

from .. import uploads
from . import docs
from .context import page
from .schemas import ProfilePatchIn, ProfilePictureFormIn, ProfilePictureIn, user_id

bp = APIBlueprint("profile", __name__, tag="Contacts and groups")

# WhatsApp crops and re-encodes the photo as JPEG; these are the types the page can decode.
PICTURE_TYPES = ("jpg", "png")


@bp.get("/sessions/<session_id>/profile")
@bp.doc(operation_id="getProfile", summary="The account's own name, About text and photo URL",
        responses=docs.responses(docs.Profile, errors=docs.BROWSER_ERRORS))
def get_profile(session_id):
    return page(session_id).my_profile()


@bp.patch("/sessions/<session_id>/profile")
@bp.input(ProfilePatchIn, arg_name="body")
@bp.doc(operation_id="updateProfile",
        summary="Change the account's name (what others see as its push name) and/or About",
        responses=docs.responses(docs.Profile, errors=docs.BROWSER_ERRORS))
def update_profile(session_id, body):
    return page(session_id).set_my_profile(name=body.get("name"), about=body.get("about"))


@bp.put("/sessions/<session_id>/profile/picture")
@bp.doc(operation_id="setProfilePicture",
        summary="Set the account's photo: a JPEG or PNG, multipart (file) or JSON (media)",
        responses=docs.responses(docs.Profile, errors=(413, 415, *docs.BROWSER_ERRORS)))
def set_profile_picture(session_id):
    media = uploads.read_media(request, current_app.config, ProfilePictureFormIn(),
                               ProfilePictureIn(), allowed=PICTURE_TYPES)
    return page(session_id).set_my_profile(picture=media.data_url())


@bp.get("/sessions/<session_id>/blocklist")
@bp.doc(operation_id="getBlocklist", summary="The contacts the account blocked",
        responses=docs.responses(docs.Blocklist, errors=docs.BROWSER_ERRORS))
def get_blocklist(session_id):
    return {"data": page(session_id).blocklist()}


@bp.post("/sessions/<session_id>/contacts/<contactId>/block")
@bp.doc(operation_id="blockContact",
        summary="Block a contact: its messages are no longer delivered, sends to it are refused",
        responses=docs.responses(docs.Blocked, errors=docs.BROWSER_ERRORS))
def block_contact(session_id, contactId):
    return page(session_id).set_blocked(user_id(contactId, "contactId"), True)


@bp.delete("/sessions/<session_id>/contacts/<contactId>/block")
@bp.doc(operation_id="unblockContact", summary="Unblock a contact",
        responses=docs.responses(docs.Blocked, errors=docs.BROWSER_ERRORS))
def unblock_contact(session_id, contactId):
    return page(session_id).set_blocked(user_id(contactId, "contactId"), False)


@bp.get("/sessions/<session_id>/contacts/<contactId>/profile-picture")
@bp.doc(operation_id="getContactProfilePicture",
        summary="A contact's photo URL (null when it shows none; 404 when not on WhatsApp)",
        responses=docs.responses(docs.ProfilePicture, errors=docs.BROWSER_ERRORS))
def contact_picture(session_id, contactId):
    return page(session_id).contact_picture(user_id(contactId, "contactId"))


@bp.get("/sessions/<session_id>/contacts/<contactId>/about")
@bp.doc(operation_id="getContactAbout",
        summary="A contact's About text (null when empty or hidden; 404 when not on WhatsApp)",
        responses=docs.responses(docs.About, errors=docs.BROWSER_ERRORS))
def contact_about(session_id, contactId):
    return page(session_id).contact_about(user_id(contactId, "contactId"))


PICTURE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "a .jpg or .png file whose content is one"}}}},
        "application/json": {"schema": {
            "type": "object", "required": ["media"], "additionalProperties": False,
            "properties": {"media": {
                "type": "object", "required": ["data", "filename"], "additionalProperties": False,
                "properties": {
                    "data": {"type": "string", "format": "byte", "minLength": 1,
                             "description": "base64 or a data: URL of a JPEG or PNG"},
                    "filename": {"type": "string", "minLength": 1, "maxLength": 255},
                    "mimetype": {"type": "string", "maxLength": 128}}}}}},
    },
}


def document_picture(spec: dict) -> dict:
    op = spec.get("paths", {}).get("/sessions/{session_id}/profile/picture", {}).get("put")
    if op is not None:
        op["requestBody"] = PICTURE_BODY
    return spec


def init_app(app) -> None:
    """Describe the photo upload body in the OpenAPI document (the view reads it itself)."""
    previous = app.spec_callback
    app.spec_processor(lambda spec: (previous or (lambda s: s))(document_picture(spec)))
