"""POST /uploads and the answers that serve an upload, on both storage backends.

The type comes from the bytes; nothing is served as HTML, SVG or script; every
answer says nosniff; the file is refused with 413 as soon as it is too large
and then nothing is kept; Range, ETag and If-None-Match behave as HTTP says.
"""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from chatapp.attachments import receive
from chatapp.attachments.storage import CHUNK_BYTES
from tests.api.conftest import assert_error

from .conftest import fetch, image_bytes, post_file, stored_nothing, uploaded

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def test_an_upload_answers_its_attachment(world):
    picture = image_bytes((800, 600))
    response = post_file(world.api, picture, "holiday.jpg")
    assert response.status_code == 201
    upload = response.get_json()["upload"]
    assert set(upload) == {"id", "name", "content_type", "size", "width", "height", "url", "thumbnail_url"}
    assert upload["name"] == "holiday.jpg" and upload["content_type"] == "image/jpeg"
    assert (upload["width"], upload["height"]) == (800, 600)
    assert upload["url"] == f"/api/v1/uploads/{upload['id']}/file/holiday.jpg"
    assert upload["thumbnail_url"] == f"/api/v1/uploads/{upload['id']}/thumbnail"
    served = fetch(world.api, upload["url"])
    assert served.status_code == 200 and len(served.data) == upload["size"]
    assert Image.open(io.BytesIO(served.data)).size == (800, 600)


def test_a_png_named_x_txt_sent_as_text_plain_is_an_image(world):
    upload = uploaded(world.api, image_bytes((50, 40), "PNG"), "x.txt", "text/plain")
    assert upload["content_type"] == "image/png" and (upload["width"], upload["height"]) == (50, 40)
    served = fetch(world.api, upload["url"])
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Disposition"].startswith("inline;")


@pytest.mark.parametrize(("data", "name", "claimed"), [
    (HTML, "page.html", "text/html"),
    (SVG, "logo.svg", "image/svg+xml"),
    (b"alert(document.cookie)", "app.js", "text/javascript"),
    (HTML, "innocent.png", "image/png"),  # a lying header and name change nothing
    (b"just some notes\n", "notes.txt", "text/plain"),
])
def test_html_svg_script_and_text_are_served_as_downloads(world, data, name, claimed):
    upload = uploaded(world.api, data, name, claimed)
    assert upload["content_type"] == "application/octet-stream"
    assert upload["width"] is None and upload["height"] is None and upload["thumbnail_url"] is None
    served = fetch(world.api, upload["url"])
    assert served.status_code == 200 and served.data == data
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_a_pdf_is_served_inline_as_a_pdf(world):
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    upload = uploaded(world.api, pdf, "report.pdf", "application/octet-stream")
    served = fetch(world.api, upload["url"])
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Disposition"].startswith("inline;")
    # Browsers do not show a PDF in a sandbox; their viewers sandbox its scripts themselves.
    assert served.headers["Content-Security-Policy"] == "default-src 'none'"


def test_every_answer_says_nosniff_private_and_same_origin(world):
    upload = uploaded(world.api, image_bytes(), "a.jpg")
    answers = [fetch(world.api, upload["url"]), fetch(world.api, upload["thumbnail_url"]),
               world.api.get("/uploads/999999/file/x"), world.api.get("/uploads/999999/thumbnail"),
               post_file(world.api, b"", "empty.txt"), world.api.post("/uploads", json={})]
    for response in answers:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.status_code
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    for response in answers[:2]:
        assert response.headers["Cache-Control"] == "private, no-cache"


def test_names_are_cleaned_and_the_url_carries_them_encoded(world):
    upload = uploaded(world.api, b"data", "../../etc/\u202egpj.exe\x00 R\u00e9sum\u00e9 2026.txt", "text/plain")
    assert upload["name"] == "gpj.exe R\u00e9sum\u00e9 2026.txt"
    assert upload["url"].endswith("/file/gpj.exe%20R%C3%A9sum%C3%A9%202026.txt")
    served = fetch(world.api, upload["url"])
    assert served.status_code == 200
    assert served.headers["Content-Disposition"] == (
        "attachment; filename=\"gpj.exe Resume 2026.txt\"; filename*=UTF-8''gpj.exe%20R%C3%A9sum%C3%A9%202026.txt"
    )
    assert fetch(world.api, upload["url"].rsplit("/", 1)[0] + "/other-name").data == b"data"  # the name is decorative


@pytest.mark.parametrize(("name", "expected"), [
    (None, "file"), ("", "file"), ("...", "file"), (".bashrc", "bashrc"), ("C:\\Users\\me\\cat.png", "cat.png"),
    ("a" * 300 + ".jpeg", "a" * 250 + ".jpeg"), ("b" * 300, "b" * 255),
])
def test_clean_name(name, expected):
    assert receive.clean_name(name) == expected


def test_an_empty_file_is_an_empty_download(world):
    upload = uploaded(world.api, b"", "empty.bin", "application/octet-stream")
    assert upload["size"] == 0
    assert fetch(world.api, upload["url"]).data == b""


# ---------------------------------------------------------------- refusals


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(app, world):
    app.config["MAX_UPLOAD_BYTES"] = 100_000
    assert_error(post_file(world.api, os.urandom(100_001), "big.bin"), 413, "payload_too_large")
    assert stored_nothing(world)
    assert uploaded(world.api, os.urandom(100_000), "fits.bin")["size"] == 100_000


def test_a_declared_length_over_the_limit_is_refused_before_reading(app, world):
    app.config["MAX_UPLOAD_BYTES"] = 1000

    class Unreadable(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the body was read")

    response = world.api.post("/uploads", input_stream=Unreadable(), content_type="multipart/form-data; boundary=x",
                              environ_overrides={"CONTENT_LENGTH": str(10**9)})
    assert_error(response, 413, "payload_too_large")
    assert stored_nothing(world)


def test_a_chunked_body_is_counted_while_streaming(app, world):
    """No Content-Length (Transfer-Encoding: chunked): the file part is counted as it
    arrives and refused the moment it crosses the limit; nothing is kept."""
    app.config["MAX_UPLOAD_BYTES"] = 300_000
    read = []

    def body(size: int):
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        return head + os.urandom(size) + b"\r\n--b--\r\n"

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            read.append(len(data))
            return data

    headers = {"Content-Type": "multipart/form-data; boundary=b", "Transfer-Encoding": "chunked"}
    # What a WSGI server that decodes chunked bodies says (gevent's, Werkzeug's; eventlet: tests/e2e).
    server = {"wsgi.input_terminated": True}
    big = Counting(body(5_000_000))
    response = world.api.post("/uploads", input_stream=big, headers=headers, environ_overrides=server)
    assert_error(response, 413, "payload_too_large")
    assert sum(read) < 600_000  # stopped near the limit, not at the end of the 5 MB
    assert stored_nothing(world)
    fits = world.api.post("/uploads", input_stream=Counting(body(300_000)), headers=headers, environ_overrides=server)
    assert fits.status_code == 201 and fits.get_json()["upload"]["size"] == 300_000


def _parts(*parts: tuple[str, object]) -> dict:
    return {"data": dict(parts), "content_type": "multipart/form-data"}


@pytest.mark.parametrize(("make", "field"), [
    (lambda: {"json": {"file": "x"}}, None),
    (lambda: _parts(("other", (io.BytesIO(b"x"), "a.txt"))), "file"),
    (lambda: _parts(("file", "not a file")), "file"),
    (lambda: _parts(("file", [(io.BytesIO(b"x"), "a.txt"), (io.BytesIO(b"y"), "b.txt")])), "file"),
], ids=["json", "another-field", "text-not-file", "two-files"])
def test_anything_but_one_file_part_is_a_validation_error(world, make, field):
    error = assert_error(world.api.post("/uploads", **make()), 400, "validation_error")
    if field:
        assert list(error["fields"]) == [field]
    assert stored_nothing(world)


def test_a_truncated_multipart_body_keeps_nothing(world):
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n' + b"x" * 200_000
    assert_error(world.api.post("/uploads", data=body, headers=headers), 400, "validation_error")
    assert stored_nothing(world)


def test_uploads_need_a_login(app, world):
    from tests.api.conftest import Caller

    assert_error(post_file(Caller(app, None), b"x", "a.txt"), 401, "unauthorized")
    assert_error(Caller(app, None).get("/uploads/1/thumbnail"), 401, "unauthorized")


def test_uploads_are_rate_limited_per_user(app, world):
    app.config.update(RATE_UPLOAD_BURST=3, RATE_UPLOAD_PER_SECOND=0.01)
    for _ in range(3):
        uploaded(world.api, b"x", "a.txt")
    error = assert_error(post_file(world.api, b"x", "a.txt"), 429, "rate_limited")
    assert error["retry_after"] >= 1
    uploaded(world.bob_api, b"x", "a.txt")  # per user


def test_upload_bytes_are_rate_limited_per_user(app, world):
    app.config.update(RATE_UPLOAD_MIB_BURST=3, RATE_UPLOAD_MIB_PER_SECOND=0.01)
    uploaded(world.api, os.urandom(2 * 1024 * 1024), "a.bin")  # two tokens
    assert_error(post_file(world.api, os.urandom(2 * 1024 * 1024), "b.bin"), 429, "rate_limited")
    assert uploaded(world.bob_api, os.urandom(2 * 1024 * 1024), "c.bin")


def test_unsent_uploads_have_a_quota(app, world):
    app.config["UPLOAD_PENDING_MAX"] = 2
    uploaded(world.api, b"1", "a.txt")
    uploaded(world.api, b"2", "b.txt")
    error = assert_error(post_file(world.api, b"3", "c.txt"), 429, "rate_limited")
    assert "not sent" in error["message"] and error["retry_after"] > 3600


# ---------------------------------------------------------------- HTTP semantics


@pytest.fixture
def big_file(world) -> tuple[dict, bytes]:
    """Three and a half database chunks, so ranges cross chunk boundaries."""
    data = os.urandom(3 * CHUNK_BYTES + CHUNK_BYTES // 2)
    return uploaded(world.api, data, "big.bin", "application/octet-stream"), data


@pytest.mark.parametrize(("header", "start", "stop"), [
    ("bytes=0-0", 0, 1),
    ("bytes=10-99", 10, 100),
    (f"bytes={CHUNK_BYTES - 5}-{CHUNK_BYTES + 4}", CHUNK_BYTES - 5, CHUNK_BYTES + 5),
    (f"bytes={CHUNK_BYTES}-", CHUNK_BYTES, 3 * CHUNK_BYTES + CHUNK_BYTES // 2),
    ("bytes=-100", 3 * CHUNK_BYTES + CHUNK_BYTES // 2 - 100, 3 * CHUNK_BYTES + CHUNK_BYTES // 2),
    ("bytes=-99999999", 0, 3 * CHUNK_BYTES + CHUNK_BYTES // 2),  # longer than the file: all of it
    ("bytes=5-99999999", 5, 3 * CHUNK_BYTES + CHUNK_BYTES // 2),
])
def test_a_single_range_is_206_with_its_content_range(world, big_file, header, start, stop):
    upload, data = big_file
    response = fetch(world.api, upload["url"], headers={"Range": header})
    assert response.status_code == 206
    assert response.data == data[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(data)}"
    assert int(response.headers["Content-Length"]) == stop - start


def test_a_range_past_the_end_is_416(world, big_file):
    upload, data = big_file
    response = fetch(world.api, upload["url"], headers={"Range": f"bytes={len(data)}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"
    assert response.data == b"" and "Content-Type" not in response.headers


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "nonsense"])
def test_several_or_malformed_ranges_get_the_whole_file(world, big_file, header):
    upload, data = big_file
    response = fetch(world.api, upload["url"], headers={"Range": header})
    assert response.status_code == 200 and response.data == data


def test_etag_and_if_none_match(world, big_file):
    upload, data = big_file
    first = fetch(world.api, upload["url"])
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Accept-Ranges"] == "bytes"
    again = fetch(world.api, upload["url"], headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert fetch(world.api, upload["url"], headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert fetch(world.api, upload["url"], headers={"If-None-Match": '"other"'}).status_code == 200
    assert fetch(world.api, upload["url"], headers={"If-None-Match": "*"}).status_code == 304


def test_if_range_with_another_version_gets_the_whole_file(world, big_file):
    upload, data = big_file
    etag = fetch(world.api, upload["url"]).headers["ETag"]
    same = fetch(world.api, upload["url"], headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206 and same.data == data[:10]
    other = fetch(world.api, upload["url"], headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert other.status_code == 200 and other.data == data


def test_head_answers_the_headers_without_the_body(world, big_file):
    upload, data = big_file
    response = world.api.request("HEAD", upload["url"][len("/api/v1"):])
    assert response.status_code == 200 and response.data == b""
    assert int(response.headers["Content-Length"]) == len(data)


def test_the_thumbnail_is_ranged_and_conditional_too(world):
    upload = uploaded(world.api, image_bytes((1200, 900)), "p.jpg")
    thumbnail = fetch(world.api, upload["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/jpeg"
    part = fetch(world.api, upload["thumbnail_url"], headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.data == thumbnail.data[:4]
    assert fetch(world.api, upload["thumbnail_url"],
                 headers={"If-None-Match": thumbnail.headers["ETag"]}).status_code == 304
    assert thumbnail.headers["ETag"] != fetch(world.api, upload["url"]).headers["ETag"]


def test_a_file_has_no_thumbnail(world):
    upload = uploaded(world.api, b"plain", "a.txt", "text/plain")
    assert_error(world.api.get(f"/uploads/{upload['id']}/thumbnail"), 404, "not_found")


@pytest.mark.parametrize("path", ["/uploads/abc/thumbnail", "/uploads/0/file/x", "/uploads/-1/thumbnail"])
def test_a_malformed_id_is_a_validation_error(world, path):
    assert_error(world.api.get(path), 400, "validation_error")
