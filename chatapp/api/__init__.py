"""REST blueprints under /api/v1: thin handlers that parse, call a service, render."""
