"""Issue 12, « an independent validator is also run on them »: the official EN 16931 schematron of
Factur-X, run by Saxon-HE, finds nothing wrong with an invoice or a credit note, with or without the
buyer's Chorus Pro references, with one VAT rate or several — and does find a broken one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree
from test_facturx import BUYER, make_invoice

from bippop.billing.facturx import NSMAP, cii_xml
from bippop.billing.models import CREDIT_NOTE, INVOICE
from facturx_check import schematron_failures


@pytest.mark.parametrize("kind", [INVOICE, CREDIT_NOTE])
def test_invoices_and_credit_notes_break_no_en16931_rule(kind: str) -> None:
    invoice = make_invoice(kind)
    xml = cii_xml(invoice, "2027-000042", invoice.issue_date) if kind == CREDIT_NOTE else cii_xml(invoice)
    assert schematron_failures(xml) == []


def test_without_the_buyers_references_no_rule_is_broken() -> None:
    buyer = {key: value for key, value in BUYER.items() if key not in ("service_code", "engagement_number")}
    assert schematron_failures(cii_xml(make_invoice(buyer=buyer))) == []


def test_the_rules_are_really_checked() -> None:
    """A grand total that does not add up is reported (BR-CO-15), so a clean report means something."""
    xml = cii_xml(make_invoice())
    root = etree.fromstring(xml)
    (total,) = root.xpath("//ram:GrandTotalAmount", namespaces=NSMAP)
    total.text = str(Decimal(total.text) + 1)
    failures = schematron_failures(etree.tostring(root))
    assert any(failure.startswith("BR-CO-15") for failure in failures), failures
