"""What the branding editor accepts, checked without a server: logos by their bytes (PNG and JPEG headers
read by hand, SVG rewritten by svg-hush), French phone numbers, multi-line contact fields, and the DNS
servers setting."""

from __future__ import annotations

import struct
import zlib

import pytest

from bippop.appearance.images import MAX_LOGO_BYTES, LogoRefused, checked_logo
from bippop.config import Settings, SettingsError
from bippop.tenants.branding import BrandingError, clean_branding, normalise_phone


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def jpeg(width: int, height: int, *, frame: int = 0xC0) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff" + bytes([frame]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x02" + b"\x00" * 10 + b"\xff\xd9"


def test_png_and_jpeg_are_read_from_their_headers() -> None:
    logo = checked_logo(png(120, 40))
    assert (logo.content_type, logo.width, logo.height, logo.extension) == ("image/png", 120, 40, "png")
    logo = checked_logo(jpeg(300, 100))
    assert (logo.content_type, logo.width, logo.height) == ("image/jpeg", 300, 100)
    assert checked_logo(jpeg(64, 32, frame=0xC2)).width == 64  # progressive


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"<html><body>not a logo</body></html>", "not_an_image"),
        (b"GIF89a" + b"\x00" * 20, "not_an_image"),
        (png(0, 10), "not_an_image"),
        (png(5000, 10), "too_large_sides"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "not_an_image"),  # a JPEG without a frame
        (png(10, 10) + b"\x00" * MAX_LOGO_BYTES, "too_big"),
        (b"<svg><unclosed", "bad_svg"),
        (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>", "not_an_image"),
    ],
)
def test_anything_else_is_refused_with_a_reason(data: bytes, code: str) -> None:
    with pytest.raises(LogoRefused) as refused:
        checked_logo(data)
    assert refused.value.code == code


def test_an_svg_loses_what_could_run_or_reach_out() -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="a()">'
        b"<script>alert(1)</script><rect width='5' height='5' onmouseover='b()'/>"
        b'<use xlink:href="https://evil.example/s.svg#x"/><foreignObject><p>hi</p></foreignObject></svg>'
    )
    cleaned = checked_logo(svg).data.lower()
    assert b"<rect" in cleaned
    for gone in (b"script", b"onload", b"onmouseover", b"evil.example", b"foreignobject"):
        assert gone not in cleaned


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("03 44 40 72 00", "03 44 40 72 00"),
        ("0344407200", "03 44 40 72 00"),
        ("03.44.40.72.00", "03 44 40 72 00"),
        ("+33 3 44 40 72 00", "03 44 40 72 00"),
        ("+33 (0)3 44 40 72 00", "03 44 40 72 00"),
        ("0033 6 12 34 56 78", "06 12 34 56 78"),
        ("+262 262 12 34 56", "+262 262 12 34 56"),
    ],
)
def test_french_phone_numbers_are_written_one_way(typed: str, kept: str) -> None:
    assert normalise_phone(typed) == kept
    assert clean_branding({"contact_phone": typed}) == {"contact_phone": kept}


@pytest.mark.parametrize("typed", ["12", "0044 20 7946 0958", "00 00 00 00 00", "03 44 40 72 0", "abc"])
def test_other_numbers_are_refused(typed: str) -> None:
    with pytest.raises(BrandingError) as refused:
        clean_branding({"contact_phone": typed})
    assert (refused.value.field, refused.value.code) == ("contact_phone", "phone")


def test_address_and_hours_keep_their_lines_within_bounds() -> None:
    cleaned = clean_branding(
        {"contact_hours": " Lundi  9 h\r\n\r\n Mardi 10 h ", "contact_address": "1 rue\n60200 X"}
    )
    assert cleaned == {"contact_hours": "Lundi 9 h\nMardi 10 h", "contact_address": "1 rue\n60200 X"}
    with pytest.raises(BrandingError) as refused:
        clean_branding({"contact_hours": "\n".join(["jour"] * 15)})
    assert refused.value.code == "too_many_lines"
    with pytest.raises(BrandingError):
        clean_branding({"contact_email": "pas une adresse"})


def test_dns_servers_setting_is_parsed_and_checked() -> None:
    settings = Settings(dns_nameservers="9.9.9.9, 127.0.0.1:5353,[::1]:53")
    assert settings.dns_nameserver_list() == [("9.9.9.9", 53), ("127.0.0.1", 5353), ("::1", 53)]
    assert Settings().dns_nameserver_list() == []
    for wrong in ("resolver.example", "127.0.0.1:99999"):
        with pytest.raises(SettingsError):
            Settings(dns_nameservers=wrong).validate()
