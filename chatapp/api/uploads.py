"""v2 attachments: POST /uploads, and the files and thumbnails they serve."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, Flask, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from ..attachments import images, receive, serving, storage
from ..contract import rest
from ..services import uploads
from .http import answer, path_id
from .principal import me
from .typed import login_required

bp = Blueprint("uploads", __name__, url_prefix="/api/v1")
# nosniff, a sandboxing policy and same-origin embedding on every answer, errors too.
bp.after_request(serving.security_headers)


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)  # typed as Flask's sansio base; it is the app
    storage.configure(app)  # an unknown CHAT_UPLOAD_STORAGE stops the app here
    images.configure(app.config["UPLOAD_MAX_IMAGE_PIXELS"])


@bp.post("/uploads")
@login_required
def upload() -> ResponseReturnValue:
    # The body is read by the service, after the limits (request.stream is not touched before).
    attachment = uploads.upload(me(), request.content_length,
                                lambda spool, limit: receive.receive(request, spool, limit))
    return answer(rest.UploadAnswer, 201, upload=attachment)


@bp.get("/uploads/<upload_id>/file/<name>")
@login_required
def download(upload_id: str, name: str) -> ResponseReturnValue:
    """``name`` only gives the URL a file name for the browser: any name serves the file."""
    return serving.answer(request, uploads.served(me(), path_id(upload_id, "upload_id"), thumbnail=False))


@bp.get("/uploads/<upload_id>/thumbnail")
@login_required
def thumbnail(upload_id: str) -> ResponseReturnValue:
    return serving.answer(request, uploads.served(me(), path_id(upload_id, "upload_id"), thumbnail=True))
