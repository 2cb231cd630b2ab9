"""Fixtures for attachments: the app on both storage backends, a small world of
users and conversations, and images made with Pillow inside the tests."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from chatapp import create_app
from chatapp.extensions import db
from chatapp.models import Upload, UploadChunk
from chatapp.services import conversations, messaging
from tests.api.conftest import Caller
from tests.conftest import reset_database

_client_ids = itertools.count(1)
FAST = {"ARGON2_MEMORY_KIB": 1024, "ARGON2_TIME_COST": 1, "RATE_MESSAGES_BURST": 1000, "RATE_UPLOAD_BURST": 1000}


@pytest.fixture(params=["file", "database"])
def app(request, database_url: str, tmp_path: Path) -> Iterator[Any]:
    """The app of tests/conftest.py, once per storage backend, its files in tmp_path."""
    url = f"sqlite:///{tmp_path / 'test.db'}" if database_url.startswith("sqlite") else database_url
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, UPLOAD_STORAGE=request.param,
                     UPLOAD_DIR=str(tmp_path / "uploads"), **FAST)
    with app.app_context():
        db.create_all()
        yield app
        app.extensions["chat.tasks"].shutdown()
        reset_database()


@dataclass
class World:
    """alice and bob share a direct conversation and a private group; carol owns
    a public room and is a stranger to the rest."""

    alice: Any
    bob: Any
    carol: Any
    api: Caller  # as alice
    bob_api: Caller
    carol_api: Caller
    dm: int
    group: int
    room: int
    upload_dir: Path

    def message(self, sender: Any, conversation_id: int, body: str = "look") -> int:
        sent, _ = messaging.send_message(sender, conversation_id, body, f"c-{next(_client_ids)}")
        return int(sent["id"])


@pytest.fixture
def world(app, make_user) -> World:
    alice, alice_token = make_user("alice")
    bob, bob_token = make_user("bob")
    carol, carol_token = make_user("carol")
    dm, _ = conversations.open_direct(alice, bob.id)
    group = conversations.create_group(alice, "Team", [bob.id])
    room = conversations.create_group(carol, "Lobby", [], visibility="public")
    return World(alice, bob, carol, Caller(app, alice_token), Caller(app, bob_token), Caller(app, carol_token),
                 dm["id"], group["id"], room["id"], Path(app.config["UPLOAD_DIR"]))


def post_file(caller: Caller, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg", **kw: Any):
    return caller.post("/uploads", data={"file": (io.BytesIO(data), name, content_type)},
                       content_type="multipart/form-data", **kw)


def uploaded(caller: Caller, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> dict:
    response = post_file(caller, data, name, content_type)
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    return response.get_json()["upload"]


def fetch(caller: Caller, url: str, **kw: Any):
    assert url.startswith("/api/v1/")
    return caller.get(url[len("/api/v1"):], **kw)


def stored_nothing(world: World) -> bool:
    """No upload row, no chunk, no file (nor a spool file) anywhere under the upload folder."""
    rows = db.session.scalar(select(func.count()).select_from(Upload))
    chunks = db.session.scalar(select(func.count()).select_from(UploadChunk))
    files = [p for p in world.upload_dir.rglob("*") if p.is_file()] if world.upload_dir.exists() else []
    db.session.rollback()
    return rows == 0 and chunks == 0 and files == []


def image_bytes(size: tuple[int, int] = (640, 480), fmt: str = "JPEG", mode: str = "RGB", **save: Any) -> bytes:
    """A picture with some detail (a gradient and a bar), encoded in memory."""
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    bands = [across, down, Image.new("L", size, 128), Image.new("L", size, 200)]
    image = Image.merge(mode, bands[: len(mode)]) if mode in ("RGB", "RGBA") else down.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def gps_exif(orientation: int = 1) -> Image.Exif:
    """EXIF with the camera's make, an orientation and a GPS position (Berlin)."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS IFD
    return exif
