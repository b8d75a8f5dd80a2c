"""Media routes: a message's file, streamed from the page; files kept by MEDIA_STORE=local."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app, send_file, stream_with_context

from ..media import content_disposition, open_media, served_mimetype
from . import docs
from .context import engine, page
from .schemas import message_id

bp = APIBlueprint("media", __name__, tag="Messages")
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# The real type is the file's own (Content-Type); generated clients need a concrete one here.
FILE = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
HEADERS = {"Content-Disposition": {"schema": {"type": "string"}, "description":
                                   "attachment; filename=\"…\"; filename*=UTF-8''…"}}
DOWNLOAD = {
    200: {"description": "The decrypted file, with the message's MIME type", "content": FILE,
          "headers": HEADERS},
    404: {"description": "`not_found`: no such message, or not a media message (also "
                         "`session_not_found`)", "content": ERROR},
    410: {"description": "`media_expired`: WhatsApp no longer has the file (the phone may "
                         "still: ask the sender to send it again)", "content": ERROR},
    413: {"description": "`media_too_large`: the file is over MEDIA_MAX_BYTES", "content": ERROR},
    **{code: docs.ERRORS[code] for code in docs.BROWSER_ERRORS},
}
STORED = {200: {"description": "The stored file", "content": FILE, "headers": HEADERS},
          404: {"description": "`not_found`: not stored (evicted, or MEDIA_STORE is not local)",
                "content": ERROR}}


@bp.get("/sessions/<session_id>/messages/<messageId>/media")
@bp.doc(operation_id="downloadMedia",
        summary="Download the file of a media message (incoming or sent)",
        description="Streamed as the page reads it (MEDIA_CHUNK_BYTES per chunk), at most "
                    "MEDIA_MAX_BYTES.", responses=DOWNLOAD)
def download(session_id, messageId):
    media = open_media(page(session_id), message_id(messageId), current_app.config)
    response = Response(stream_with_context(media.chunks), mimetype=served_mimetype(
        media.mimetype), headers={
        "Content-Length": str(media.size), "Content-Disposition": content_disposition(
            media.filename), "Cache-Control": "private, no-store"})
    response.call_on_close(media.close)  # also when no chunk was read (HEAD, a client gone)
    return response


@bp.get("/media/<session_id>/<name>")
@bp.doc(operation_id="getStoredMedia",
        summary="A file MEDIA_STORE=local kept (the `media.url` of a message event)",
        responses=STORED)
def stored(session_id, name):
    path, meta = engine().media_file(session_id, name)
    response = send_file(path, mimetype=served_mimetype(meta["mimetype"]), conditional=True,
                         max_age=0)
    response.headers["Content-Disposition"] = content_disposition(meta["filename"])
    return response
