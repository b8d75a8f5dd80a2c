"""Group routes: list, create, participants; subject, description, settings, admins, invite
links, join, leave."""

from __future__ import annotations

from apiflask import APIBlueprint

from .. import shapes
from . import docs
from .context import cached_list, engine, page
from .schemas import (
    AdminsIn,
    GroupCreateIn,
    GroupUpdateIn,
    JoinGroupIn,
    ListQuery,
    ParticipantsIn,
    group_id,
    invite_code,
    user_id,
)

bp = APIBlueprint("groups", __name__, tag="Contacts and groups")
ADMIN_ERRORS = (403, 404, 422, *docs.BROWSER_ERRORS)


@bp.get("/sessions/<session_id>/groups")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.doc(operation_id="listGroups",
        summary="List the groups the account is in (cached; refresh=true skips the cache)",
        responses={**docs.responses(docs.GroupList, errors=docs.BROWSER_ERRORS),
                   **docs.NOT_MODIFIED})
def list_groups(session_id, query):
    return cached_list(session_id, "groups", shapes.group, query["refresh"])


@bp.post("/sessions/<session_id>/groups")
@bp.input(GroupCreateIn, arg_name="body")
@bp.doc(operation_id="createGroup",
        summary="Create a group", responses=docs.responses(docs.Group, 201,
                                                            errors=docs.BROWSER_ERRORS))
def create_group(session_id, body):
    members = [user_id(p, "participants") for p in body["participants"]]
    created = page(session_id).create_group(body["name"], members)
    engine().invalidate(session_id, "groups", "chats")
    return shapes.group(created), 201


@bp.post("/sessions/<session_id>/groups/<groupId>/participants")
@bp.input(ParticipantsIn, arg_name="body")
@bp.doc(operation_id="changeParticipants",
        summary="Add or remove participants (the account must be a group admin)",
        responses=docs.responses(docs.Group, errors=(403, *docs.BROWSER_ERRORS)))
def change_participants(session_id, groupId, body):
    add = [user_id(p, "add") for p in body.get("add", [])]
    remove = [user_id(p, "remove") for p in body.get("remove", [])]
    changed = page(session_id).change_participants(group_id(groupId), add, remove)
    engine().invalidate(session_id, "groups")
    return shapes.group(changed)


@bp.patch("/sessions/<session_id>/groups/<groupId>")
@bp.input(GroupUpdateIn, arg_name="body")
@bp.doc(operation_id="updateGroup",
        summary="Change the subject, description and/or settings (applied in that order)",
        responses=docs.responses(docs.Group, errors=ADMIN_ERRORS))
def update_group(session_id, groupId, body):
    settings = body.get("settings") or {}
    changed = page(session_id).update_group(
        group_id(groupId), body.get("subject"), body.get("description"),
        settings.get("announce"), settings.get("restrict"))
    engine().invalidate(session_id, "groups", "chats")
    return shapes.group(changed)


@bp.post("/sessions/<session_id>/groups/<groupId>/admins")
@bp.input(AdminsIn, arg_name="body")
@bp.doc(operation_id="changeAdmins",
        summary="Promote participants to admins and/or demote admins (the account must be one)",
        responses=docs.responses(docs.Group, errors=ADMIN_ERRORS))
def change_admins(session_id, groupId, body):
    promote = [user_id(p, "promote") for p in body.get("promote", [])]
    demote = [user_id(p, "demote") for p in body.get("demote", [])]
    changed = page(session_id).change_admins(group_id(groupId), promote, demote)
    engine().invalidate(session_id, "groups")
    return shapes.group(changed)


@bp.get("/sessions/<session_id>/groups/<groupId>/invite-link")
@bp.doc(operation_id="getInviteLink", summary="The group's invite link (admins only)",
        responses=docs.responses(docs.InviteLink, errors=(403, 404, *docs.BROWSER_ERRORS)))
def get_invite_link(session_id, groupId):
    return page(session_id).invite_link(group_id(groupId))


@bp.post("/sessions/<session_id>/groups/<groupId>/invite-link/revoke")
@bp.doc(operation_id="revokeInviteLink",
        summary="Make a new invite link; the old one stops working (admins only)",
        responses=docs.responses(docs.InviteLink, errors=(403, 404, *docs.BROWSER_ERRORS)))
def revoke_invite_link(session_id, groupId):
    return page(session_id).invite_link(group_id(groupId), revoke=True)


@bp.post("/sessions/<session_id>/groups/join")
@bp.input(JoinGroupIn, arg_name="body")
@bp.doc(operation_id="joinGroup", summary="Join a group by its invite link",
        responses=docs.responses(docs.JoinedGroup, errors=(404, *docs.BROWSER_ERRORS)))
def join_group(session_id, body):
    joined = page(session_id).join_group(invite_code(body["link"]))
    engine().invalidate(session_id, "groups", "chats")
    return joined


@bp.post("/sessions/<session_id>/groups/<groupId>/leave")
@bp.doc(operation_id="leaveGroup",
        summary="Leave a group (its chat stays, read-only, as on WhatsApp)",
        responses=docs.responses(docs.LeftGroup, errors=(404, *docs.BROWSER_ERRORS)))
def leave_group(session_id, groupId):
    left = page(session_id).leave_group(group_id(groupId))
    engine().invalidate(session_id, "groups", "chats")
    return left
