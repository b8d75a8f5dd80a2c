"""Contact and group routes, and the session's list cache."""

from __future__ import annotations

from apiflask import APIBlueprint

from .. import shapes
from . import docs
from .context import cached_list, engine, page
from .schemas import GroupCreateIn, ListQuery, ParticipantsIn, group_id, user_id

bp = APIBlueprint("contacts", __name__, tag="Contacts and groups")


@bp.get("/sessions/<session_id>/contacts")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.doc(operation_id="listContacts",
        summary="List contacts (cached for CACHE_TTL_CONTACTS; refresh=true skips the cache)",
        responses={**docs.responses(docs.ContactList, errors=docs.BROWSER_ERRORS),
                   **docs.NOT_MODIFIED})
def list_contacts(session_id, query):
    return cached_list(session_id, "contacts", shapes.contact, query["refresh"])


@bp.get("/sessions/<session_id>/contacts/<contactId>")
@bp.doc(operation_id="getContact",
        summary="One contact (a number on WhatsApp but not in the contacts is shown too)",
        responses=docs.responses(docs.Contact, errors=docs.BROWSER_ERRORS))
def get_contact(session_id, contactId):
    found = page(session_id).get_contact(user_id(contactId, "contactId"))
    return shapes.contact(found)


@bp.get("/sessions/<session_id>/contacts/<phone>/exists")
@bp.doc(operation_id="checkContactExists",
        summary="Whether a phone number is on WhatsApp, and its @lid when WhatsApp gives one",
        responses=docs.responses(docs.Exists, errors=docs.BROWSER_ERRORS))
def contact_exists(session_id, phone):
    found = page(session_id).query_exists(user_id(phone, "phone"))
    return {"exists": found is not None, "id": found and found["id"],
            "lid": found and found.get("lid"), "isBusiness": bool(found and found.get("isBusiness"))}


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


@bp.delete("/sessions/<session_id>/cache")
@bp.doc(operation_id="clearCache",
        summary="Drop the session's cached lists; returns how many were cached",
        responses=docs.responses(docs.Cleared))
def clear_cache(session_id):
    return {"cleared": engine().clear_cache(session_id)}
