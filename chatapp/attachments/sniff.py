"""What an upload is, from its first bytes (magic numbers).

Never from the file name or the client's Content-Type: both are the sender's
word, and a type served to a browser decides what the browser does with the
bytes (an "image" that is really HTML would run as a page of this origin).
Only types a browser shows without running anything get their own type:
images, audio, video and PDF. Everything else, text and HTML and SVG included,
is a download (``application/octet-stream``, ``Content-Disposition: attachment``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["image", "audio", "video", "pdf", "file"]

OCTET_STREAM = "application/octet-stream"
# Enough for every signature below, and for a WebM's track codecs (the Tracks
# element follows the header within the first few hundred bytes).
HEAD_BYTES = 4096


@dataclass(frozen=True)
class Kind:
    content_type: str
    category: Category
    # Pillow's format name for the images this server decodes (and re-encodes).
    image_format: str | None = None

    @property
    def inline(self) -> bool:
        """Shown by the browser (images, audio, video, PDF), not downloaded."""
        return self.category != "file"


JPEG = Kind("image/jpeg", "image", "JPEG")
PNG = Kind("image/png", "image", "PNG")
GIF = Kind("image/gif", "image", "GIF")
WEBP = Kind("image/webp", "image", "WEBP")
PDF = Kind("application/pdf", "pdf")
FILE = Kind(OCTET_STREAM, "file")

# ISO base media file brands (the "ftyp" box): MP4, QuickTime, 3GPP video and
# MPEG-4 audio. HEIF/AVIF photos are files: this server cannot strip or
# thumbnail them, and a browser may not show them.
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_QUICKTIME_BRANDS = {b"qt  "}
_3GPP_BRANDS = {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3ge6", b"3ge7", b"3gg6", b"3g2a", b"3g2b", b"3g2c"}
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ",
               b"M4VH", b"M4VP", b"F4V ", b"F4P ", b"mmp4", b"MSNV", b"NDAS", b"XAVC"}

# MPEG audio frame header: sync (11 bits), version (not 01), layer (not 00),
# bitrate (not 1111), sample rate (not 11). Checked bit by bit: FF Ex alone
# matches one random file in a few hundred.
_MPEG_BITRATE_BAD = 0xF0
_MPEG_RATE_BAD = 0x0C


def sniff(head: bytes) -> Kind:
    """The kind of a file whose first bytes are ``head`` (``HEAD_BYTES`` of them, or all)."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return Kind("audio/wav", "audio")
    if head.startswith(b"%PDF-"):
        return PDF
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _matroska(head)
    if head.startswith(b"OggS"):
        # Theora (video) names itself in the first page; Vorbis, Opus and FLAC are audio.
        return Kind("video/ogg", "video") if b"\x80theora" in head else Kind("audio/ogg", "audio")
    if head.startswith(b"fLaC"):
        return Kind("audio/flac", "audio")
    if head.startswith(b"ID3") or _mpeg_audio_frame(head):
        return Kind("audio/mpeg", "audio")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS: sync, layer 00
        return Kind("audio/aac", "audio")
    return FILE


def _iso_media(head: bytes) -> Kind:
    brand = head[8:12]
    if brand in _AUDIO_BRANDS:
        return Kind("audio/mp4", "audio")
    if brand in _QUICKTIME_BRANDS:
        return Kind("video/quicktime", "video")
    if brand in _3GPP_BRANDS:
        return Kind("video/3gpp", "video")
    if brand in _MP4_BRANDS:
        return Kind("video/mp4", "video")
    return FILE


def _matroska(head: bytes) -> Kind:
    """WebM (a Matroska profile browsers play): video when a video codec is among
    its tracks, else audio (a recorded voice note is audio-only WebM). Other
    Matroska files (.mkv) are files: browsers do not promise to play them."""
    if b"webm" not in head[:64]:
        return FILE
    if any(codec in head for codec in (b"V_VP8", b"V_VP9", b"V_AV1", b"V_MPEG4")):
        return Kind("video/webm", "video")
    return Kind("audio/webm", "audio")


def _mpeg_audio_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x03, (head[1] >> 1) & 0x03
    return version != 0x01 and layer != 0x00 and head[2] & _MPEG_BITRATE_BAD != _MPEG_BITRATE_BAD \
        and head[2] & _MPEG_RATE_BAD != _MPEG_RATE_BAD
