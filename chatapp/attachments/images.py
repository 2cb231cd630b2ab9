"""Image work: size, thumbnail, and an original served without its metadata.

A phone photo carries EXIF with the GPS position of the sender's home, the
camera's serial number, XMP edit history; sent in a group, all of it would go
to everyone. The served original is therefore re-encoded from the pixels, with
nothing of the file's metadata but its color profile (ICC: without it a
Display P3 photo renders washed out) and, for palette images, transparency.
The EXIF orientation is applied first, so photos stay upright without it.

A decompression bomb (a few KiB declaring 50,000 x 50,000 pixels, 7.5 GB once
decoded) is refused from the header: ``Image.open`` parses the header only,
and the declared size is checked before anything is decoded, against
``CHAT_UPLOAD_MAX_IMAGE_PIXELS`` (Pillow's own ``MAX_IMAGE_PIXELS`` is set to
the same limit as a second guard inside Pillow). An animation's frames
together may have ``ANIMATION_FACTOR`` times the limit.

Animated GIF, WebP and PNG stay animated (every frame re-encoded, timing and
loop kept); their thumbnail is the first frame. A file whose bytes say image
but that does not decode is refused (validation_error): serving it as an
image would serve bytes no one checked, and as a file would surprise.

Everything here is CPU work on files: call it through ``run_blocking``
(services/blocking.py), never on the event loop.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .storage import SPOOL_PREFIX

THUMBNAIL_SIDE = 400
ANIMATION_FACTOR = 4
JPEG_QUALITY = 90
WEBP_QUALITY = 90
THUMBNAIL_QUALITY = 80
# The only entries of Pillow's ``info`` that reach an encoder: how to draw the
# pixels, nothing about where, when or by what they were taken.
KEPT_INFO = ("transparency", "duration", "loop", "background")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageRefused(Exception):
    """The image is not served: the reason is for the uploader (validation_error)."""


@dataclass(frozen=True)
class Output:
    path: Path
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Processed:
    width: int
    height: int
    original: Output
    thumbnail: Output


def configure(max_pixels: int) -> None:
    """Pillow's own bomb guard at our limit (it warns above it and refuses at twice it)."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def process(source: Path, image_format: str, directory: Path, max_pixels: int) -> Processed:
    """The re-encoded original and the thumbnail of the image in ``source``, as
    spool files in ``directory``. Raises ``ImageRefused``."""
    try:
        image = Image.open(source, formats=[image_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"the image has more than {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused("the file looks like an image but cannot be read") from None
    outputs: list[Path] = []
    try:
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRefused(f"the image has {width * height} pixels, more than {max_pixels}")
            frames: int = getattr(image, "n_frames", 1)  # counted without decoding
            animated = image_format != "JPEG" and frames > 1
            if animated and frames * width * height > ANIMATION_FACTOR * max_pixels:
                raise ImageRefused(f"the animation has more than {ANIMATION_FACTOR * max_pixels} pixels in all")
            try:
                if animated:
                    original, first = _reencode_animation(image, image_format, directory, outputs)
                else:
                    original, first = _reencode_still(image, image_format, directory, outputs)
                thumbnail = _thumbnail(first, directory, outputs)
            except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
                raise ImageRefused("the image is damaged and cannot be decoded") from None
            return Processed(first.width, first.height, original, thumbnail)
    except BaseException:
        for path in outputs:
            path.unlink(missing_ok=True)
        raise


def _reencode_still(image: Image.Image, image_format: str, directory: Path,
                    outputs: list[Path]) -> tuple[Output, Image.Image]:
    icc = image.info.get("icc_profile")
    image.load()  # decodes; a damaged file fails here
    upright = _upright(image)
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if image_format == "JPEG":
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")  # CMYK and others: rendered alike by every browser
        if upright is image and image.format == "JPEG":
            # Upright already: the original quantization, no second generation of loss.
            options.update(quality="keep", subsampling="keep")
        else:
            options.update(quality=JPEG_QUALITY)
    elif image_format == "WEBP":
        options.update(quality=WEBP_QUALITY)
    _keep_drawing_info(upright)
    return _save(upright, image_format, directory, outputs, **options), upright


def _upright(image: Image.Image) -> Image.Image:
    """The pixels as they should be seen (EXIF orientation applied); ``image``
    itself when it is upright already. A malformed EXIF block is ignored."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # Pillow raises many kinds on broken EXIF; it only decides the rotation
        return image
    if orientation in (None, 1):
        return image
    turned = ImageOps.exif_transpose(image)
    return turned if turned is not None else image


def _reencode_animation(image: Image.Image, image_format: str, directory: Path,
                        outputs: list[Path]) -> tuple[Output, Image.Image]:
    options: dict[str, Any] = {"save_all": True}
    for name in ("loop", "background"):
        if name in image.info:
            options[name] = image.info[name]
    if image_format == "WEBP":
        options.update(quality=WEBP_QUALITY)
    icc = image.info.get("icc_profile")
    if icc:
        options["icc_profile"] = icc
    # Frames are decoded one by one by the encoder (seek), each with its own duration.
    _keep_drawing_info(image)
    output = _save(image, image_format, directory, outputs, **options)
    image.seek(0)
    first = image.copy()
    return output, first


def _keep_drawing_info(image: Image.Image) -> None:
    image.info = {name: value for name, value in image.info.items() if name in KEPT_INFO}


def _thumbnail(frame: Image.Image, directory: Path, outputs: list[Path]) -> Output:
    """Longest side at most THUMBNAIL_SIDE, aspect ratio kept: JPEG, or WebP
    when the image has transparency (JPEG has none)."""
    alpha = frame.mode in _ALPHA_MODES or "transparency" in frame.info
    small = frame.convert("RGBA" if alpha else "RGB") if frame.mode not in ("RGB", "RGBA", "L") else frame
    small = small.resize(thumbnail_size(frame.width, frame.height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if alpha:
        return _save(small.convert("RGBA"), "WEBP", directory, outputs, quality=THUMBNAIL_QUALITY)
    return _save(small.convert("RGB"), "JPEG", directory, outputs, quality=THUMBNAIL_QUALITY)


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    longest = max(width, height)
    if longest <= THUMBNAIL_SIDE:
        return width, height
    scale = THUMBNAIL_SIDE / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


def _save(image: Image.Image, image_format: str, directory: Path, outputs: list[Path], **options: Any) -> Output:
    fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=directory)
    path = Path(name)
    outputs.append(path)
    with os.fdopen(fd, "wb") as handle:
        image.save(handle, format=image_format, **options)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return Output(path, path.stat().st_size, digest.hexdigest(), CONTENT_TYPES[image_format])
