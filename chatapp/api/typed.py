"""Typed names for Flask-Login, which ships no type information (no py.typed, no stubs).

To mypy every Flask-Login value is Any, so ``@login_required`` would make each
route untyped. The cast is written once here instead of an ignore per route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import flask_login

F = TypeVar("F", bound=Callable[..., object])


def login_required(view: F) -> F:
    """Flask-Login's ``login_required``: the view, wrapped to answer 401 without a user."""
    return cast(F, flask_login.login_required(view))
