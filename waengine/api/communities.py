"""Community routes: create, list, link and unlink groups, announce, admins, deactivate.

A community is a parent group with an announcement group (only its admins post there, every
member reads it) and linked groups; its id is the parent group's `…@g.us`.
"""

from __future__ import annotations

from apiflask import APIBlueprint

from .. import shapes
from . import docs
from .context import engine, page
from .schemas import (
    AdminsIn,
    AnnouncementIn,
    CommunityCreateIn,
    CommunityGroupsIn,
    group_id,
    user_id,
)

bp = APIBlueprint("communities", __name__, tag="Contacts and groups")
ADMIN_ERRORS = (403, 404, 422, *docs.BROWSER_ERRORS)


def community_id(value: str) -> str:
    return group_id(value)


@bp.get("/sessions/<session_id>/communities")
@bp.doc(operation_id="listCommunities", summary="The communities the account is in",
        responses=docs.responses(docs.CommunityList, errors=docs.BROWSER_ERRORS))
def list_communities(session_id):
    return {"data": page(session_id).list_communities()}


@bp.post("/sessions/<session_id>/communities")
@bp.input(CommunityCreateIn, arg_name="body")
@bp.doc(operation_id="createCommunity",
        summary="Create a community, linking groups the account administers",
        responses=docs.responses(docs.Community, 201, errors=docs.BROWSER_ERRORS))
def create_community(session_id, body):
    made = page(session_id).create_community(body["name"], body.get("description", ""),
                                             body["groups"])
    engine().invalidate(session_id, "groups", "chats")
    return made, 201


@bp.get("/sessions/<session_id>/communities/<communityId>")
@bp.doc(operation_id="getCommunity", summary="A community: its groups and participants",
        responses=docs.responses(docs.Community, errors=(404, 422, *docs.BROWSER_ERRORS)))
def get_community(session_id, communityId):
    return page(session_id).get_community(community_id(communityId))


@bp.post("/sessions/<session_id>/communities/<communityId>/groups")
@bp.input(CommunityGroupsIn, arg_name="body")
@bp.doc(operation_id="changeCommunityGroups",
        summary="Link and/or unlink groups (community admins; a group is linked by its admins)",
        responses=docs.responses(docs.Community, errors=ADMIN_ERRORS))
def change_groups(session_id, communityId, body):
    changed = page(session_id).change_community_groups(
        community_id(communityId), body.get("add", []), body.get("remove", []))
    engine().invalidate(session_id, "groups")
    return changed


@bp.post("/sessions/<session_id>/communities/<communityId>/announcements")
@bp.input(AnnouncementIn, arg_name="body")
@bp.doc(operation_id="announceToCommunity",
        summary="Send a text to the community's announcement group (its admins only)",
        responses=docs.responses(docs.Message, 201, errors=ADMIN_ERRORS))
def announce(session_id, communityId, body):
    sent = page(session_id).community_announce(community_id(communityId), body["text"])
    return shapes.message(sent), 201


@bp.post("/sessions/<session_id>/communities/<communityId>/admins")
@bp.input(AdminsIn, arg_name="body")
@bp.doc(operation_id="changeCommunityAdmins",
        summary="Promote members to community admins and/or demote admins",
        responses=docs.responses(docs.Community, errors=ADMIN_ERRORS))
def change_admins(session_id, communityId, body):
    promote = [user_id(p, "promote") for p in body.get("promote", [])]
    demote = [user_id(p, "demote") for p in body.get("demote", [])]
    return page(session_id).change_community_admins(community_id(communityId), promote, demote)


@bp.post("/sessions/<session_id>/communities/<communityId>/deactivate")
@bp.doc(operation_id="deactivateCommunity",
        summary="Deactivate a community (its creator only): its groups stay, unlinked",
        responses=docs.responses(docs.Deactivated, errors=ADMIN_ERRORS))
def deactivate(session_id, communityId):
    done = page(session_id).deactivate_community(community_id(communityId))
    engine().invalidate(session_id, "groups", "chats")
    return done
