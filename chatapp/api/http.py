"""Request parsing and the REST error envelope, in one place."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import jsonmodule
from ..extensions import db
from ..services.errors import ChatError, ValidationError, database_busy, field_error
from ..services.validation import DECIMAL_RE, MISSING, UNSTORABLE, entity_id, storable

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "validation_error",
    409: "conflict",
    413: "payload_too_large",
    415: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or ``validation_error``."""
    if not request.is_json:
        raise ValidationError("send a JSON object with Content-Type: application/json")
    # The same parser and nesting policy as socket packets (chatapp/jsonmodule.py).
    try:
        data = jsonmodule.loads(request.get_data(cache=True))
    except jsonmodule.TooDeep as exc:
        raise ValidationError(str(exc)) from None
    except ValueError:
        raise ValidationError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    return data


def unset_to_missing(value: Any) -> Any:
    """A parsed request's absent field (``UNSET``) as the services' ``MISSING``."""
    return MISSING if value is msgspec.UNSET else value


def answer(kind: type[msgspec.Struct], status: int = 200, **fields: Any) -> tuple[Response, int]:
    """A REST answer built as the contract's ``kind`` (chatapp/contract/rest.py), not a literal dict.

    The services hand over their objects as dicts or contract structs; converting them checks
    the answer's shape against the contract on the way out (a field the contract does not know
    is not sent) and encodes it with the contract's library."""
    body = msgspec.convert(fields, kind, from_attributes=True)
    return current_app.response_class(msgspec.json.encode(body), mimetype="application/json"), status


def optional_json_body() -> dict[str, Any]:
    """For endpoints whose body is optional: empty is {}, anything else must be an object."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


def refuse_unstorable_url_text() -> None:
    """Query strings and path parts obey the text rule of string() (services/validation.py)
    before any handler runs: a NUL in ?q= or in a path's emoji is validation_error, not a 500
    from the database. (Werkzeug decodes invalid UTF-8 to U+FFFD, so surrogates cannot arrive here.)"""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and not storable(value):
            raise field_error(name, UNSTORABLE)
    for name, value in request.args.items(multi=True):
        if not storable(name) or not storable(value):
            raise field_error(name if storable(name) else "query", UNSTORABLE)


def path_id(raw: str, field: str) -> int:
    """Ids in paths arrive as text; a malformed one is validation_error, not 404."""
    if not DECIMAL_RE.fullmatch(raw):
        raise ValidationError(f"{field}: must be an integer", fields={field: "must be an integer"})
    return entity_id(int(raw, 10), field)


def error_response(code: str, message: str, status: int, **extra: object) -> tuple[Response, int]:
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_unstorable_url_text)

    @app.errorhandler(ChatError)
    def chat_error(exc: ChatError) -> Response:
        db.session.rollback()
        response = jsonify(exc.envelope())
        response.status_code = exc.status
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        return error_response("payload_too_large", "the body is larger than the limit", 413)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        return error_response(HTTP_CODES.get(status, "internal"), exc.description or exc.name, status)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_down(exc: Exception) -> tuple[Response, int]:
        db.session.rollback()
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response("unavailable", "the database is unavailable, retry later", 503)

    @app.errorhandler(PoolTimeout)
    def pool_exhausted(exc: PoolTimeout) -> Response:
        return chat_error(database_busy())

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal", "internal error", 500)
