"""Images: the served original has no metadata and stays upright, thumbnails keep
the aspect ratio within 400 px, animations stay animated, bombs are refused from
the header without decoding, damaged images are refused."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image, ImageSequence

from chatapp.attachments.images import THUMBNAIL_SIDE, thumbnail_size
from tests.api.conftest import assert_error

from .conftest import fetch, gps_exif, image_bytes, post_file, stored_nothing, uploaded

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="SecretTool"/></rdf:RDF>'
       b"</x:xmpmeta>")


def _served(world, upload) -> tuple[bytes, Image.Image]:
    data = fetch(world.api, upload["url"]).data
    return data, Image.open(io.BytesIO(data))


def test_exif_gps_and_xmp_are_gone_from_the_served_jpeg(world):
    photo = image_bytes((640, 480), "JPEG", exif=gps_exif(), xmp=XMP, comment=b"SecretComment")
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)  # the upload does carry a position
    upload = uploaded(world.api, photo, "home.jpg")
    data, served = _served(world, upload)
    assert dict(served.getexif()) == {}
    assert not served.getexif().get_ifd(0x8825)
    for secret in (b"Exif", b"Secret", b"ns.adobe.com", b"GPS"):
        assert secret not in data
    thumbnail = fetch(world.api, upload["thumbnail_url"]).data
    assert b"Exif" not in thumbnail and b"Secret" not in thumbnail


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_metadata_is_gone_from_png_and_webp_too(world, fmt):
    from PIL import PngImagePlugin

    options = {"exif": gps_exif(), "xmp": XMP}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "SecretText")
        options = {"exif": gps_exif(), "pnginfo": info}
    data, served = _served(world, uploaded(world.api, image_bytes((300, 200), fmt, "RGBA", **options), "x"))
    assert served.format == fmt and served.mode == "RGBA"
    assert dict(served.getexif()) == {}
    for secret in (b"Secret", b"ns.adobe.com", b"eXIf", b"EXIF", b"XMP "):
        assert secret not in data


@pytest.mark.parametrize(("orientation", "shown"), [(1, (640, 480)), (3, (640, 480)), (6, (480, 640)),
                                                    (8, (480, 640))])
def test_the_exif_orientation_is_applied_so_photos_stay_upright(world, orientation, shown):
    # A sensor-oriented photo: red on the left half as stored.
    stored = Image.new("RGB", (640, 480), "blue")
    stored.paste("red", (0, 0, 320, 480))
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=gps_exif(orientation), quality=95)
    upload = uploaded(world.api, buffer.getvalue(), "turned.jpg")
    assert (upload["width"], upload["height"]) == shown
    _data, served = _served(world, upload)
    assert served.size == shown
    expected = {1: (10, 240), 3: (630, 240), 6: (240, 10), 8: (240, 630)}[orientation]  # where red went
    red, green, blue = served.convert("RGB").getpixel(expected)
    assert red > 200 and blue < 60


@pytest.mark.parametrize(("size", "expected"), [
    ((4000, 3000), (400, 300)), ((3000, 4000), (300, 400)), ((1000, 10), (400, 4)), ((10, 5000), (1, 400)),
    ((400, 400), (400, 400)), ((120, 80), (120, 80)), ((401, 1), (400, 1)),
])
def test_thumbnail_size_keeps_the_aspect_ratio_within_400_px(size, expected):
    assert thumbnail_size(*size) == expected


@pytest.mark.parametrize(("size", "fmt"), [((2000, 1500), "JPEG"), ((300, 1200), "PNG"), ((90, 60), "GIF"),
                                           ((1600, 900), "WEBP")])
def test_the_served_thumbnail_has_that_size(world, size, fmt):
    upload = uploaded(world.api, image_bytes(size, fmt), "pic")
    response = fetch(world.api, upload["thumbnail_url"])
    thumbnail = Image.open(io.BytesIO(response.data))
    assert thumbnail.size == thumbnail_size(*size)
    assert max(thumbnail.size) <= THUMBNAIL_SIDE
    assert thumbnail.format == "JPEG" and response.headers["Content-Type"] == "image/jpeg"


def test_a_transparent_image_gets_a_webp_thumbnail(world):
    upload = uploaded(world.api, image_bytes((800, 800), "PNG", "RGBA"), "logo.png")
    response = fetch(world.api, upload["thumbnail_url"])
    thumbnail = Image.open(io.BytesIO(response.data))
    assert response.headers["Content-Type"] == "image/webp"
    assert thumbnail.format == "WEBP" and thumbnail.mode == "RGBA" and thumbnail.size == (400, 400)


def test_an_animated_gif_stays_animated(world):
    frames = [Image.new("RGB", (120, 80), (i * 60, 255 - i * 60, 0)) for i in range(4)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300, 400], loop=0,
                   comment=b"SecretComment")
    upload = uploaded(world.api, buffer.getvalue(), "party.gif")
    data, served = _served(world, upload)
    assert served.n_frames == 4 and served.info["loop"] == 0
    assert [frame.info["duration"] for frame in ImageSequence.Iterator(served)] == [100, 200, 300, 400]
    assert b"Secret" not in data
    assert Image.open(io.BytesIO(fetch(world.api, upload["thumbnail_url"]).data)).size == (120, 80)


# ---------------------------------------------------------------- bombs and damage


def _png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header declares width x height (grayscale)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100_000, 9))
            + chunk(b"IEND", b""))


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to declare width x height."""
    data = bytearray(image_bytes((16, 16), "JPEG"))
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_declaring(width: int, height: int) -> bytes:
    data = bytearray(image_bytes((16, 16), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen
    at = data.index(b",")  # the image descriptor
    data[at + 5:at + 9] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.mark.parametrize("make", [_png_declaring, _jpeg_declaring, _gif_declaring], ids=["png", "jpeg", "gif"])
def test_a_small_file_declaring_50000_by_50000_pixels_is_refused_fast(world, make):
    bomb = make(50_000, 50_000)
    assert len(bomb) < 2000
    started = time.perf_counter()
    error = assert_error(post_file(world.api, bomb, "bomb.png"), 400, "validation_error")
    elapsed = time.perf_counter() - started
    assert list(error["fields"]) == ["file"] and "pixels" in error["fields"]["file"]
    assert elapsed < 1.0, f"{elapsed:.2f}s: it was decoded"
    assert stored_nothing(world)


def test_the_pixel_limit_is_configurable(app, world):
    app.config["UPLOAD_MAX_IMAGE_PIXELS"] = 100 * 100
    assert uploaded(world.api, image_bytes((100, 100), "PNG"), "ok.png")["width"] == 100
    assert_error(post_file(world.api, image_bytes((101, 100), "PNG"), "big.png"), 400, "validation_error")


def test_an_animation_counts_all_its_frames(app, world):
    app.config["UPLOAD_MAX_IMAGE_PIXELS"] = 100 * 100  # animations: 4x, so 5 frames of 100x100 are too many
    frames = [Image.new("RGB", (100, 100), (i * 50, 0, 0)) for i in range(5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    error = assert_error(post_file(world.api, buffer.getvalue(), "long.gif"), 400, "validation_error")
    assert "animation" in error["fields"]["file"]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_image_is_refused(world, damage):
    photo = image_bytes((640, 480), "JPEG")
    broken = photo[: len(photo) // 2] if damage == "truncated" else photo[:20] + b"\x00" * 5000
    error = assert_error(post_file(world.api, broken, "broken.jpg"), 400, "validation_error")
    assert list(error["fields"]) == ["file"]
    assert stored_nothing(world)
