"""The purge: uploads no message carries go after their time, deleted messages'
uploads right after the delete, each with its bytes; attached ones stay; and two
purgers at once purge every row exactly once."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from chatapp.attachments import storage
from chatapp.extensions import db
from chatapp.models import Upload, UploadChunk
from chatapp.services import uploads
from chatapp.timeutil import utcnow

from .conftest import image_bytes, stored_nothing, uploaded


def _bytes_stored(world) -> int:
    """Files under the upload folder plus chunk rows: whatever the backend keeps."""
    files = [p for p in world.upload_dir.rglob("*")
             if p.is_file() and p.relative_to(world.upload_dir).parts[0] != "tmp"]
    chunks = db.session.scalar(select(func.count()).select_from(UploadChunk)) or 0
    return len(files) + chunks


def test_an_upload_never_sent_is_purged_after_its_time_with_its_bytes(app, world):
    upload = uploaded(world.api, image_bytes((600, 400)), "p.jpg")
    assert _bytes_stored(world) > 0
    assert uploads.purge() == 0  # not due yet
    later = utcnow() + timedelta(seconds=app.config["UPLOAD_UNATTACHED_TTL_SECONDS"] + 1)
    assert uploads.purge(now=later) == 1
    assert stored_nothing(world) and _bytes_stored(world) == 0
    assert world.api.get(f"/uploads/{upload['id']}/thumbnail").status_code == 404


def test_an_attached_upload_is_never_purged(app, world):
    upload = uploaded(world.api, os.urandom(700_000), "a.bin")
    message_id = world.message(world.alice, world.dm)
    uploads.attach(world.alice.id, world.dm, message_id, [upload["id"]])
    db.session.commit()
    assert uploads.purge(now=utcnow() + timedelta(days=365)) == 0
    assert world.bob_api.get(upload["url"][len("/api/v1"):]).status_code == 200


def test_a_deleted_messages_uploads_are_purged_at_once(app, world):
    upload = uploaded(world.api, os.urandom(700_000), "a.bin")
    message_id = world.message(world.alice, world.dm)
    uploads.attach(world.alice.id, world.dm, message_id, [upload["id"]])
    db.session.commit()
    uploads.detach_deleted(message_id)
    db.session.commit()
    assert uploads.purge() == 1
    assert stored_nothing(world)


def test_a_full_batch_leaves_the_rest_to_the_next_call(app, world):
    for i in range(5):
        uploaded(world.api, str(i).encode(), f"{i}.txt")
    later = utcnow() + timedelta(days=2)
    assert [uploads.purge(batch=2, now=later) for _ in range(4)] == [2, 2, 1, 0]


def test_the_purge_loop_of_a_worker_runs_on_its_own(app, world):
    app.config.update(UPLOAD_UNATTACHED_TTL_SECONDS=0.2, UPLOAD_PURGE_SECONDS=0.05)
    uploaded(world.api, b"soon gone", "a.txt")
    app.extensions["chat.tasks"].ensure_upload_purge()
    deadline = time.monotonic() + 5
    while not stored_nothing(world) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored_nothing(world)


def test_stale_spool_files_of_a_dead_request_are_swept(app, world):
    spool = storage.spool_directory()
    stale, fresh = spool / f"{storage.SPOOL_PREFIX}dead", spool / f"{storage.SPOOL_PREFIX}live"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in progress")
    hour_ago = time.time() - storage.STALE_SPOOL_SECONDS - 1
    os.utime(stale, (hour_ago, hour_ago))
    assert storage.sweep_spool() == 1
    assert not stale.exists() and fresh.exists()
    fresh.unlink()


def test_two_purgers_at_once_purge_each_row_exactly_once(app, world, database_url):
    """Two workers' purges racing over the same due rows: each row is claimed by one
    (SKIP LOCKED on PostgreSQL; SQLite's single writer serialises them)."""
    if database_url.startswith("sqlite") and app.config["UPLOAD_STORAGE"] == "database":
        pytest.skip("one run on SQLite is enough")
    total = 60
    for i in range(total):
        uploaded(world.api, os.urandom(1000 + i), f"{i}.bin")
    later = utcnow() + timedelta(days=2)
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def purger() -> None:
        with app.app_context():
            try:
                start.wait(5)
                while (purged := uploads.purge(batch=7, now=later)) > 0:
                    counts.append(purged)
            except BaseException as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=purger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sum(counts) == total
    assert db.session.scalar(select(func.count()).select_from(Upload)) == 0
    assert _bytes_stored(world) == 0
