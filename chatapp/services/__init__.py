"""The domain. Every action is one function that validates, authorizes,
persists, commits and (through ``events.on_commit``) publishes. REST and
socket handlers both call these; neither re-implements them."""
