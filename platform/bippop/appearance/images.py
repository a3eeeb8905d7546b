"""A council's logo, checked by what it holds, never by its name or the type the browser claims.

PNG and JPEG are recognised by their signature and their size read from the header (IHDR; a JPEG's
start-of-frame segment); anything else is refused. An SVG is parsed and rewritten by ``py-svg-hush``
(svg-hush): scripts, event handlers, ``javascript:`` links, foreign objects and references to other
documents go; what is left must still be an ``<svg>`` document.
"""

from __future__ import annotations

import dataclasses
import re
import struct

from py_svg_hush import filter_svg

MAX_LOGO_BYTES = 512 * 1024
MAX_SIDE = 4096  # pixels, for PNG and JPEG
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# Start-of-frame markers (baseline, progressive, …): not DHT (C4), JPG (C8) nor DAC (CC).
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
SVG_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<svg[\s>/]", re.DOTALL)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}


class LogoRefused(ValueError):
    """Why a file cannot be the logo: ``code`` is empty, too_big, not_an_image, too_large_sides, bad_svg."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Logo:
    data: bytes  # what is stored and served (an SVG as rewritten)
    content_type: str
    width: int | None
    height: int | None

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def png_size(data: bytes) -> tuple[int, int] | None:
    # Signature, then the IHDR chunk first: length 13, type, width, height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the segments up to the first start-of-frame, which holds height then width."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2:
            return None
        if marker in JPEG_FRAME_MARKERS:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame: not a well-formed JPEG
            return None
        position += 2 + length
    return None


def _bitmap(data: bytes, content_type: str, size: tuple[int, int] | None) -> Logo:
    if size is None or not all(1 <= side <= MAX_SIDE for side in size):
        raise LogoRefused("not_an_image" if size is None or 0 in size else "too_large_sides")
    return Logo(data, content_type, *size)


def _svg(data: bytes) -> Logo:
    try:
        cleaned = filter_svg(data)
    except (ValueError, TypeError):
        raise LogoRefused("bad_svg") from None
    if not SVG_ROOT.match(cleaned) or len(cleaned) > MAX_LOGO_BYTES:
        raise LogoRefused("bad_svg")
    return Logo(cleaned, "image/svg+xml", None, None)


def looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")) and b"<svg" in data[:65536].lower()


def checked_logo(data: bytes) -> Logo:
    """The logo to store, or :class:`LogoRefused`."""
    if not data:
        raise LogoRefused("empty")
    if len(data) > MAX_LOGO_BYTES:
        raise LogoRefused("too_big")
    if data.startswith(PNG_SIGNATURE):
        return _bitmap(data, "image/png", png_size(data))
    if data.startswith(JPEG_SIGNATURE):
        return _bitmap(data, "image/jpeg", jpeg_size(data))
    if looks_like_svg(data):
        return _svg(data)
    raise LogoRefused("not_an_image")
