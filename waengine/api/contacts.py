"""Contact routes, and the session's list cache."""

from __future__ import annotations

from apiflask import APIBlueprint

from .. import shapes
from . import docs
from .context import cached_list, engine
from .schemas import ListQuery, user_id

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
    return shapes.contact(engine().contact(session_id, user_id(contactId, "contactId")))


@bp.get("/sessions/<session_id>/contacts/<phone>/exists")
@bp.doc(operation_id="checkContactExists",
        summary="Whether a phone number is on WhatsApp, and its @lid when WhatsApp gives one",
        responses=docs.responses(docs.Exists, errors=docs.BROWSER_ERRORS))
def contact_exists(session_id, phone):
    found = engine().contact_exists(session_id, user_id(phone, "phone"))
    return {"exists": found is not None, "id": found and found["id"],
            "lid": found and found.get("lid"), "isBusiness": bool(found and found.get("isBusiness"))}


@bp.delete("/sessions/<session_id>/cache")
@bp.doc(operation_id="clearCache",
        summary="Drop the session's cached lists; returns how many were cached",
        responses=docs.responses(docs.Cleared))
def clear_cache(session_id):
    return {"cleared": engine().clear_cache(session_id)}
