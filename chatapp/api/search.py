"""GET /api/v1/search/messages (PROTOCOL.md v2 "Search"): parse, call the service, render."""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..contract import rest
from ..services import search
from ..services.validation import query_int
from .http import answer
from .principal import me
from .typed import login_required

bp = Blueprint("search", __name__, url_prefix="/api/v1")


@bp.get("/search/messages")
@login_required
def search_messages() -> ResponseReturnValue:
    args = request.args
    results, next_cursor = search.search_messages(
        me(),
        args.get("q"),
        conversation_id=query_int(args.get("conversation_id"), "conversation_id", minimum=1),
        limit=query_int(args.get("limit"), "limit", minimum=1),
        cursor=args.get("cursor"),
    )
    return answer(rest.SearchAnswer, results=results, next_cursor=next_cursor)
