"""The contract as code: one typed definition of every payload (issue 12).

- ``objects``: User, Message, Conversation, Room, Token, Session, Error, Health;
- ``rest``: every REST request and answer body and the table of operations;
- ``events``: every /chat socket event, both directions, with its audience;
- ``limits``: the limits and vocabularies, written once;
- ``parse``: input validation from these types, with the contract's error envelope;
- ``generate``: docs/openapi.json, docs/asyncapi.json, the event tables of
  docs/events.md and mobile_client/src/core/types.ts (``make contract``).
"""
