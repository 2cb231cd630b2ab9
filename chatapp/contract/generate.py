"""Generate the contract's documents and client types from its definitions.

    python -m chatapp.contract.generate          # write them all (``make contract``)
    python -m chatapp.contract.generate --check  # exit 1 if any is stale

Writes docs/openapi.json (REST), docs/asyncapi.json (the /chat namespace), the
event tables of docs/events.md (between ``<!-- contract:... -->`` markers; the
prose around them is hand-written) and mobile_client/src/core/types.ts. The
staleness test (tests/contract/test_generated.py) runs ``artefacts()`` in
memory and compares.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from . import events, limits, objects, rest

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.json"
ASYNCAPI = ROOT / "docs" / "asyncapi.json"
EVENTS_MD = ROOT / "docs" / "events.md"
TYPES_TS = ROOT / "mobile_client" / "src" / "core" / "types.ts"

SCHEMA_REF = "#/components/schemas/{name}"
Json = dict[str, Any]


def _schemas(types: Iterable[Any]) -> tuple[list[Json], Json]:
    refs, components = msgspec.json.schema_components(list(types), ref_template=SCHEMA_REF)
    return list(refs), dict(sorted(components.items()))


def _ref(kind: type) -> Json:
    return {"$ref": SCHEMA_REF.format(name=kind.__name__)}


def _dumps(doc: Json) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- OpenAPI

ERROR_RESPONSES: dict[int, tuple[str, str, str]] = {
    400: ("ValidationError", "validation_error",
          "a missing field, a wrong type, a malformed id or a body that is not a JSON object"),
    401: ("Unauthorized", "unauthorized", "no valid bearer token or session cookie (or wrong credentials at login)"),
    403: ("Forbidden", "forbidden", "authenticated but not allowed (role, posting rules, a cross-site cookie write)"),
    404: ("NotFound", "not_found", "no such object, or one the caller may not see"),
    409: ("Conflict", "conflict",
          "the username is taken (register), or the message was deleted (edit, reactions)"),
    413: ("PayloadTooLarge", "payload_too_large",
          "the body is over 64 KiB (an upload: over CHAT_MAX_UPLOAD_BYTES, default 25 MiB)"),
    429: ("RateLimited", "rate_limited", "slow down; retry_after seconds (also the Retry-After header)"),
    503: ("Unavailable", "unavailable", "the database is unavailable, retry later"),
}


def openapi() -> Json:
    # Tagged unions (by "type") are inlined as oneOf of their members.
    unions = (rest.CreateConversationRequest, rest.SubscriptionRequest)
    kinds: list[Any] = [*objects.OBJECTS, *rest.REQUESTS, *rest.ANSWERS, *unions]
    refs, components = _schemas(kinds)
    inline = {id(union): ref for union, ref in zip(unions, refs[-len(unions):], strict=True)}

    def body_schema(kind: Any) -> Json:
        if id(kind) in inline:
            return inline[id(kind)]
        if kind is dict:
            return {"type": "object"}
        return _ref(kind)

    paths: Json = {}
    for op in rest.OPERATIONS:
        responses: Json = {}
        for status, (description, kind) in op.answers.items():
            answer: Json = {"description": description}
            if isinstance(kind, str):
                answer["content"] = {kind: {"schema": {"type": "string"}}}
            elif kind is not None:
                answer["content"] = {"application/json": {"schema": body_schema(kind)}}
            responses[str(status)] = answer
        for status in op.errors:
            responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
        operation: Json = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
        if op.public:
            operation["security"] = []
        operation["responses"] = responses
        if op.params:
            operation["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.required,
                 **({"description": p.description} if p.description else {}), "schema": p.schema}
                for p in op.params
            ]
        operation.update(op.extra)  # what the types cannot say (a multipart body)
        if op.request is not None:
            operation["requestBody"] = {
                "required": op.request_required,
                "content": {"application/json": {"schema": body_schema(op.request)}},
            }
        paths.setdefault(op.path, {})[op.method] = operation

    error_responses = {
        name: {
            "description": f"{code}: {text}",
            "content": {"application/json": {"schema": {"allOf": [
                {"$ref": SCHEMA_REF.format(name="Error")},
                {"properties": {"error": {"properties": {"code": {"const": code}}}}},
            ]}}},
        }
        for name, code, text in ERROR_RESPONSES.values()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chat API",
            "version": "1",
            "description": (
                "REST half of the chat protocol (Socket.IO events: /api/v1/asyncapi.json and docs/events.md). "
                "Generated from chatapp/contract by `make contract`: do not edit by hand. Every error is the "
                "envelope {error: {code, message}}. Cookie-authenticated writes (POST, PATCH, DELETE) need the "
                "X-Requested-With header and an allowed Origin (CSRF); bearer-token requests are exempt. "
                "See docs/security.md."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "tags": [{"name": name} for name in (
            "auth", "users", "safety", "conversations", "messages", "receipts", "notifications", "meta",
        )],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": error_responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "the token from register/login (opaque, 256 bits)"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "session",
                           "description": "the browser session set by register/login (__Host-session in "
                                          "production); writes also need X-Requested-With"},
            },
        },
    }


# ---------------------------------------------------------------- AsyncAPI


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name)


def _summary(kind: type) -> str:
    return " ".join((kind.__doc__ or "").strip().split("\n\n")[0].split())


def asyncapi() -> Json:
    kinds: list[Any] = [*events.SERVER_EVENTS, events.Failure]
    for client in events.CLIENT_EVENTS:
        kinds += [client.payload, client.ack]
    _refs, components = _schemas(dict.fromkeys(kinds))
    messages: Json = {}
    operations: Json = {}
    channel = {"$ref": "#/channels/chat"}

    def channel_message(key: str) -> Json:
        return {"$ref": f"#/channels/chat/messages/{key}"}

    for server in events.SERVER_EVENTS:
        key = _key(server.NAME)
        messages[key] = {
            "name": server.NAME, "title": server.NAME, "summary": _summary(server) or server.NAME,
            "description": f"Audience: {server.AUDIENCE}." + (" (extension)" if server.EXTENSION else ""),
            "payload": _ref(server),
        }
        operations[f"emit_{key}"] = {
            "action": "send", "channel": channel, "title": server.NAME,
            "summary": f"to {server.AUDIENCE}"[:200], "messages": [channel_message(key)],
        }
    for client in events.CLIENT_EVENTS:
        key, ack_key = f"{_key(client.name)}_request", f"{_key(client.name)}_ack"
        messages[key] = {
            "name": client.name, "title": client.name, "summary": client.summary, "payload": _ref(client.payload),
        }
        messages[ack_key] = {
            "name": f"{client.name} ack", "title": f"{client.name} acknowledgement",
            "summary": "the acknowledgement callback's argument: {ok: true, ...} or {ok: false, error}",
            "description": f"Specific errors: {client.errors}.",
            "payload": {"oneOf": [_ref(client.ack), _ref(events.Failure)]},
        }
        operations[f"on_{_key(client.name)}"] = {
            "action": "receive", "channel": channel, "title": client.name, "summary": client.summary,
            "messages": [channel_message(key)],
            "reply": {"channel": channel, "messages": [channel_message(ack_key)]},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chat Socket.IO namespace /chat",
            "version": "1",
            "description": (
                "The real-time half of the chat protocol, generated from chatapp/contract by `make contract` "
                "(do not edit by hand; the prose is docs/events.md). Socket.IO v4 over WebSocket or HTTP "
                "long-polling, default path /socket.io. Connect with auth {token} or the browser session cookie; "
                "a refused connection gets connect_error with data {code, message}. Every client event takes an "
                "acknowledgement callback; every server event is sent only after its transaction committed."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "chat": {
                "host": "localhost:5000", "protocol": "ws", "pathname": "/socket.io",
                "description": "the server itself (same origin as the REST API); Socket.IO v4, namespace /chat",
            }
        },
        "channels": {
            "chat": {
                "address": "/chat",
                "title": "namespace /chat",
                "servers": [{"$ref": "#/servers/chat"}],
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
            }
        },
        "operations": operations,
        "components": {"messages": messages, "schemas": components},
    }


# ---------------------------------------------------------------- docs/events.md tables


# Shown field by field inside the table (the others are objects with a name).
EXPANDED = (objects.ReadyConversation,)


def _fields(kind: type) -> str:
    info = mi.type_info(kind)
    assert isinstance(info, mi.StructType)
    return _field_list(info)


def _field_list(info: mi.StructType) -> str:
    names = []
    for f in info.fields:
        name = f.name + ("" if f.required else "?")
        shape = f.type.type if isinstance(f.type, mi.Metadata) else f.type
        if isinstance(shape, mi.LiteralType):
            name += ": " + "\\|".join(json.dumps(v) for v in shape.values)
        elif isinstance(shape, mi.ListType) and isinstance(shape.item_type, mi.StructType) \
                and shape.item_type.cls in EXPANDED:
            name += f": [{_field_list(shape.item_type)}]"
        names.append(name)
    return "{" + ", ".join(names) + "}"


def _event_name(name: str, extension: bool) -> str:
    return f"`{name}`" + (" **(extension)**" if extension else "")


def client_table() -> str:
    rows = ["| event | payload | ack on success | specific errors |", "|---|---|---|---|"]
    for client in events.CLIENT_EVENTS:
        ack = "{" + ", ".join(["ok", *(f.name + ("" if f.required else "?")
                                       for f in mi.type_info(client.ack).fields if f.name != "ok")]) + "}"  # type: ignore[attr-defined]
        rows.append(f"| {_event_name(client.name, client.extension)} | `{_fields(client.payload)}` | `{ack}` | "
                    f"{client.errors} |")
    return "\n".join(rows)


def server_table() -> str:
    rows = ["| event | payload | audience |", "|---|---|---|"]
    for server in events.SERVER_EVENTS:
        note = f" ({server.NOTE})" if server.NOTE else ""
        rows.append(f"| {_event_name(server.NAME, server.EXTENSION)} | `{_fields(server)}`{note} | "
                    f"{server.AUDIENCE} |")
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {"client-events": client_table, "server-events": server_table}


def events_md(current: str) -> str:
    """``current`` with every generated table replaced; the prose is left as it is."""
    for name, build in TABLES.items():
        pattern = re.compile(
            rf"(<!-- contract:{name} .*?-->\n)(.*?)(<!-- /contract:{name} -->)", re.DOTALL
        )
        found = pattern.search(current)
        if found is None:
            raise SystemExit(f"docs/events.md: marker <!-- contract:{name} ... --> not found")
        current = current[: found.start(2)] + build() + "\n" + current[found.end(2):]
    return current


# ---------------------------------------------------------------- types.ts

TS_NAMES: dict[str, str] = {"Receipt": "ReceiptState", "Error": "ErrorEnvelope", "Ready": "ReadyPayload"}
# Where the client's type is wider than what this server sends, on purpose:
# an error code the client does not know yet (a newer server) is still an
# error; client-built placeholders carry no client_id.
TS_FIELD_TYPES: dict[tuple[str, str], str] = {
    ("ErrorBody", "code"): "ErrorCode | (string & {})",
    ("Message", "client_id"): "string | null",
}
# Fields that only the client declares: names older servers used.
TS_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "Conversation": ("/** Legacy name of `receipts` (older servers). */", "read_state?: Record<string, ReceiptState>;"),
}


def _ts_name(kind: type) -> str:
    name = kind.__name__
    if name in TS_NAMES:
        return TS_NAMES[name]
    if issubclass(kind, events.ServerEvent):
        return f"{name}Payload"
    return name


def _ts_type(info: mi.Type) -> str:
    if isinstance(info, mi.Metadata):
        return _ts_type(info.type)
    if isinstance(info, mi.IntType):
        return "Id" if info.ge == 1 and info.le == limits.MAX_ID else "number"
    if isinstance(info, mi.StrType):
        return "string"
    if isinstance(info, mi.BoolType):
        return "boolean"
    if isinstance(info, mi.NoneType):
        return "null"
    if isinstance(info, mi.LiteralType):
        return " | ".join(json.dumps(v) for v in info.values)
    if isinstance(info, mi.ListType):
        inner = _ts_type(info.item_type)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if isinstance(info, mi.TupleType):
        return "[" + ", ".join(_ts_type(t) for t in info.item_types) + "]"
    if isinstance(info, mi.DictType):
        return f"Record<{_ts_type(info.key_type)}, {_ts_type(info.value_type)}>"
    if isinstance(info, mi.UnionType):
        return " | ".join(_ts_type(t) for t in info.types)
    if isinstance(info, mi.StructType):
        return _ts_name(info.cls)
    return "unknown"


def _description(info: mi.Type) -> str:
    if isinstance(info, mi.Metadata):
        return str((info.extra_json_schema or {}).get("description", "")) or _description(info.type)
    if isinstance(info, mi.UnionType):
        return next((d for d in map(_description, info.types) if d), "")
    return ""


def _ts_interface(kind: type) -> str:
    info = mi.type_info(kind)
    assert isinstance(info, mi.StructType)
    lines = []
    summary = _summary(kind)
    if issubclass(kind, events.ServerEvent):
        summary = f"`{kind.NAME}`: {summary} To: {kind.AUDIENCE}." if summary else f"`{kind.NAME}`, to {kind.AUDIENCE}."
    if summary:
        lines.append(f"/** {summary} */")
    lines.append(f"export interface {_ts_name(kind)} {{")
    if info.tag_field is not None:  # a member of a tagged union: its tag is a field on the wire
        lines.append(f"  {info.tag_field}: {json.dumps(info.tag)};")
    for f in info.fields:
        description = _description(f.type)
        # v2 fields are optional for the client: it still type-checks against a v1 server.
        optional = not f.required or description.startswith("v2")
        if description:
            lines.append(f"  /** {description} */")
        ts_type = TS_FIELD_TYPES.get((kind.__name__, f.name)) or _ts_type(f.type)
        lines.append(f"  {f.name}{'?' if optional else ''}: {ts_type};")
    lines += [f"  {extra}" for extra in TS_EXTRA_FIELDS.get(kind.__name__, ())]
    lines.append("}")
    return "\n".join(lines)


def types_ts() -> str:
    out = [
        "/**",
        " * Wire types of the chat contract (PROTOCOL.md, v1 and the v2 additions).",
        " * GENERATED from chatapp/contract by `make contract` (python -m chatapp.contract.generate): do not edit.",
        " * v2 fields and extensions are optional, so a client still type-checks against an older server.",
        " */",
        "",
        "export type Id = number;",
        "export type Role = " + " | ".join(json.dumps(r) for r in limits.ROLES) + ";",
        "export type Reactions = Record<string, Id[]>;",
        "export type ErrorCode = " + " | ".join(json.dumps(c) for c in limits.ERROR_CODES) + ";",
        "",
        "/** The contract's limits (defaults; a server may be configured lower or higher). */",
        "export const LIMITS = " + json.dumps(limits.CLIENT_LIMITS, indent=2).replace('"', "") + " as const;",
        "",
        "// ------------------------------------------------------------- objects",
        "",
    ]
    for kind in (objects.User, objects.ReplyPreview, objects.Attachment, objects.Message, objects.Receipt,
                 objects.Conversation, objects.ReadyConversation, objects.Room, objects.Token,
                 objects.PushSubscription, objects.Session, objects.ErrorBody, objects.Error, objects.Health,
                 objects.Report, objects.SearchResult):
        out += [_ts_interface(kind), ""]
    out += ["// ------------------------------------------------------------- REST bodies (v2)", ""]
    for body in (rest.SettingsRequest, rest.WebPushKeys, rest.WebPushSubscriptionRequest, rest.FcmSubscriptionRequest,
                 rest.WebPushConfig, rest.PushConfig, rest.SubscriptionAnswer, rest.SubscriptionsAnswer,
                 rest.UploadAnswer, rest.UpdateMeRequest, rest.ChangePasswordRequest, rest.CloseAccountRequest,
                 rest.BlocksAnswer, rest.ReportRequest, rest.ReportAnswer, rest.ExportProfile, rest.ExportToken,
                 rest.ExportMember, rest.ExportConversation, rest.ExportMessage, rest.ExportUpload,
                 rest.ExportPushSubscription, rest.AccountExport, rest.SearchAnswer):
        out += [_ts_interface(body), ""]
    out += ["// ------------------------------------------------------------- server -> client", ""]
    for server in events.SERVER_EVENTS:
        out += [_ts_interface(server), ""]
    out += [
        "/** Same shapes under the names the client used before they were generated. */",
        "export type MessagePayload = MessageNewPayload;",
        "export type ConversationPayload = ConversationNewPayload;",
        "export type MemberPayload = MemberJoinedPayload;",
        "",
        "/** Every event the server pushes on /chat, by name. */",
        "export interface ServerEvents {",
        *(f"  {json.dumps(e.NAME) if ':' in e.NAME else e.NAME}: {_ts_name(e)};" for e in events.SERVER_EVENTS),
        "}",
        "",
        "export type ServerEventName = keyof ServerEvents;",
        "",
        "export const SERVER_EVENTS: readonly ServerEventName[] = [",
        *(f"  {json.dumps(e.NAME)}," for e in events.SERVER_EVENTS),
        "];",
        "",
        "// ------------------------------------------------------------- client -> server",
        "",
        "export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };",
        "",
    ]
    seen: set[type] = set()
    for client in events.CLIENT_EVENTS:
        pair: tuple[type, type] = (client.payload, client.ack)
        for shape in pair:
            if shape not in seen and shape is not events.EmptyAck:
                seen.add(shape)
                out += [_ts_interface(shape).replace("\n  ok?: true;", ""), ""]
    out += [
        "/** The sync request (socket `sync` and `POST /api/v1/sync`). */",
        "export type SyncRequest = SyncPayload;",
        _ts_interface(events.SyncAnswer).replace("interface SyncAnswer", "interface SyncAck"),
        "",
        "/** Every event a client sends on /chat: its payload and what the ack carries on success. */",
        "export interface ClientEvents {",
    ]
    for client in events.CLIENT_EVENTS:
        ack = "object" if client.ack is events.EmptyAck else _ts_name(client.ack)
        out.append(f"  {json.dumps(client.name) if ':' in client.name else client.name}: "
                   f"{{ payload: {_ts_name(client.payload)}; ack: {ack} }};")
    out += ["}", "", "export type ClientEventName = keyof ClientEvents;", ""]
    return "\n".join(out)


# ---------------------------------------------------------------- all of them


def artefacts() -> dict[Path, str]:
    """Every generated file and its content, computed in memory."""
    return {
        OPENAPI: _dumps(openapi()),
        ASYNCAPI: _dumps(asyncapi()),
        EVENTS_MD: events_md(EVENTS_MD.read_text(encoding="utf-8")),
        TYPES_TS: types_ts(),
    }


def stale() -> list[Path]:
    return [path for path, text in artefacts().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path.relative_to(ROOT)} (run `make contract`)", file=sys.stderr)
        return 1 if outdated else 0
    for path, text in artefacts().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
