"""An issued invoice or credit note as a Factur-X document: EN 16931 CII XML embedded as
``factur-x.xml`` in a PDF/A-3b that WeasyPrint renders in French.

Everything comes from the stored invoice (``Invoice.lines``, totals, ``buyer``, ``seller``): nothing is
recomputed, so the XML says what the database keeps. The parties' JSON:

- ``seller``: ``name``, ``siren`` (BT-30, scheme 0002), ``vat_number`` (BT-31), ``iban`` (BT-84) and
  optional ``bic``, ``address``;
- ``buyer``: ``name``, ``siret`` (BT-46 and BT-47, scheme 0009), optional ``service_code`` (BT-10, the
  Chorus Pro service), ``engagement_number`` (BT-13) and ``address``;
- an ``address`` is ``{"line1", "line2", "postcode", "city", "country"}`` (``country`` defaults to FR).

Credit notes are written with positive amounts and TypeCode 381 (their kind says they credit).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import facturx
import jinja2
import markupsafe
from babel.numbers import format_decimal
from lxml import etree

from bippop.billing.models import CREDIT_NOTE, Invoice
from bippop.billing.services.issuing import lines_of, totals

PROFILE = "urn:cen.eu:en16931:2017"
BUSINESS_PROCESS = "A1"  # Chorus Pro's "cadre de facturation": an invoice deposited by its supplier
SEPA_CREDIT_TRANSFER = "58"
UNIT = "C62"  # one (UN/ECE Recommendation 20)
RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

LATE_PAYMENT = (
    "Pénalités de retard : intérêts moratoires au taux de la Banque centrale européenne majoré de huit "
    "points (art. R2192-31 du Code de la commande publique)."
)
RECOVERY_FEE = "Indemnité forfaitaire de 40 € pour frais de recouvrement en cas de retard de paiement."
NO_DISCOUNT = "Pas d'escompte pour paiement anticipé."


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, day: datetime.date) -> None:
    _sub(_sub(parent, tag), "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _amount(value: Decimal | str) -> str:
    return f"{Decimal(value):.2f}"


def payment_terms(invoice: Invoice) -> str:
    days = (invoice.due_date - invoice.issue_date).days
    return f"Paiement à {days} jours par virement, au plus tard le {invoice.due_date:%d/%m/%Y}."


def _address(party: etree._Element, address: dict[str, Any] | None) -> None:
    address = address or {}
    postal = _sub(party, "ram:PostalTradeAddress")
    for key, tag in (("postcode", "PostcodeCode"), ("line1", "LineOne"), ("line2", "LineTwo")):
        if address.get(key):
            _sub(postal, f"ram:{tag}", str(address[key]))
    if address.get("city"):
        _sub(postal, "ram:CityName", str(address["city"]))
    _sub(postal, "ram:CountryID", str(address.get("country") or "FR"))


def _seller(agreement: etree._Element, seller: dict[str, Any]) -> None:
    party = _sub(agreement, "ram:SellerTradeParty")
    _sub(party, "ram:Name", str(seller["name"]))
    if seller.get("siren"):
        _sub(_sub(party, "ram:SpecifiedLegalOrganization"), "ram:ID", str(seller["siren"]), schemeID="0002")
    _address(party, seller.get("address"))
    if seller.get("vat_number"):
        registration = _sub(party, "ram:SpecifiedTaxRegistration")
        _sub(registration, "ram:ID", str(seller["vat_number"]), schemeID="VA")


def _buyer(agreement: etree._Element, buyer: dict[str, Any]) -> None:
    party = _sub(agreement, "ram:BuyerTradeParty")
    siret = str(buyer.get("siret") or "")
    if siret:
        _sub(party, "ram:GlobalID", siret, schemeID="0009")
    _sub(party, "ram:Name", str(buyer["name"]))
    if siret:
        _sub(_sub(party, "ram:SpecifiedLegalOrganization"), "ram:ID", siret, schemeID="0009")
    _address(party, buyer.get("address"))


def _agreement(transaction: etree._Element, invoice: Invoice) -> None:
    agreement = _sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.buyer.get("service_code"):
        _sub(agreement, "ram:BuyerReference", str(invoice.buyer["service_code"]))
    _seller(agreement, invoice.seller)
    _buyer(agreement, invoice.buyer)
    if invoice.buyer.get("engagement_number"):
        order = _sub(agreement, "ram:BuyerOrderReferencedDocument")
        _sub(order, "ram:IssuerAssignedID", str(invoice.buyer["engagement_number"]))


def _lines(transaction: etree._Element, invoice: Invoice) -> None:
    for position, line in enumerate(invoice.lines, start=1):
        item = _sub(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _sub(_sub(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(position))
        _sub(_sub(item, "ram:SpecifiedTradeProduct"), "ram:Name", str(line["label"]))
        price = _sub(_sub(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
        _sub(price, "ram:ChargeAmount", str(Decimal(line["unit_price"])))
        delivery = _sub(item, "ram:SpecifiedLineTradeDelivery")
        _sub(delivery, "ram:BilledQuantity", str(Decimal(line["quantity"])), unitCode=UNIT)
        settlement = _sub(item, "ram:SpecifiedLineTradeSettlement")
        tax = _sub(settlement, "ram:ApplicableTradeTax")
        _sub(tax, "ram:TypeCode", "VAT")
        _sub(tax, "ram:CategoryCode", "S")
        _sub(tax, "ram:RateApplicablePercent", str(Decimal(line["vat_rate"])))
        summation = _sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _sub(summation, "ram:LineTotalAmount", _amount(line["amount"]))


def _payment(settlement: etree._Element, invoice: Invoice) -> None:
    seller = invoice.seller
    if seller.get("iban"):
        means = _sub(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _sub(means, "ram:TypeCode", SEPA_CREDIT_TRANSFER)
        account = _sub(means, "ram:PayeePartyCreditorFinancialAccount")
        _sub(account, "ram:IBANID", str(seller["iban"]).replace(" ", ""))
        if seller.get("bic"):
            bank = _sub(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            _sub(bank, "ram:BICID", str(seller["bic"]))
    for rate, (base, vat) in totals(lines_of(invoice)).vat_by_rate.items():
        tax = _sub(settlement, "ram:ApplicableTradeTax")
        _sub(tax, "ram:CalculatedAmount", _amount(vat))
        _sub(tax, "ram:TypeCode", "VAT")
        _sub(tax, "ram:BasisAmount", _amount(base))
        _sub(tax, "ram:CategoryCode", "S")
        _sub(tax, "ram:RateApplicablePercent", str(rate))


def _settlement(
    transaction: etree._Element,
    invoice: Invoice,
    credited_number: str | None,
    credited_date: datetime.date | None,
) -> None:
    settlement = _sub(transaction, "ram:ApplicableHeaderTradeSettlement")
    _sub(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    _payment(settlement, invoice)
    if invoice.period_start is not None or invoice.period_end is not None:
        period = _sub(settlement, "ram:BillingSpecifiedPeriod")
        if invoice.period_start is not None:
            _date(period, "ram:StartDateTime", invoice.period_start)
        if invoice.period_end is not None:
            _date(period, "ram:EndDateTime", invoice.period_end)
    terms = _sub(settlement, "ram:SpecifiedTradePaymentTerms")
    _sub(terms, "ram:Description", payment_terms(invoice))
    _date(terms, "ram:DueDateDateTime", invoice.due_date)
    summation = _sub(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(
        summation,
        "ram:LineTotalAmount",
        _amount(sum((Decimal(line["amount"]) for line in invoice.lines), Decimal(0))),
    )
    _sub(summation, "ram:TaxBasisTotalAmount", _amount(invoice.total_excl_vat))
    _sub(summation, "ram:TaxTotalAmount", _amount(invoice.vat_total), currencyID=invoice.currency)
    _sub(summation, "ram:GrandTotalAmount", _amount(invoice.total_incl_vat))
    _sub(summation, "ram:DuePayableAmount", _amount(invoice.total_incl_vat))
    if credited_number:
        referenced = _sub(settlement, "ram:InvoiceReferencedDocument")
        _sub(referenced, "ram:IssuerAssignedID", credited_number)
        if credited_date is not None:
            formatted = _sub(referenced, "ram:FormattedIssueDateTime")
            _sub(formatted, "qdt:DateTimeString", credited_date.strftime("%Y%m%d"), format="102")


def cii_xml(
    invoice: Invoice, credited_number: str | None = None, credited_date: datetime.date | None = None
) -> bytes:
    """The EN 16931 CII XML of ``invoice``; a credit note names the invoice it credits when given."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", BUSINESS_PROCESS)
    _sub(_sub(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", PROFILE)
    document = _sub(root, "rsm:ExchangedDocument")
    _sub(document, "ram:ID", invoice.number)
    _sub(document, "ram:TypeCode", "381" if invoice.kind == CREDIT_NOTE else "380")
    _date(document, "ram:IssueDateTime", invoice.issue_date)
    for subject, content in (("PMD", LATE_PAYMENT), ("PMT", RECOVERY_FEE), ("AAB", NO_DISCOUNT)):
        note = _sub(document, "ram:IncludedNote")
        _sub(note, "ram:Content", content)
        _sub(note, "ram:SubjectCode", subject)
    transaction = _sub(root, "rsm:SupplyChainTradeTransaction")
    _lines(transaction, invoice)
    _agreement(transaction, invoice)
    # BT-72: the service starts with its period (an empty delivery element is a PEPPOL-EN16931-R008 warning).
    delivery = _sub(
        _sub(transaction, "ram:ApplicableHeaderTradeDelivery"), "ram:ActualDeliverySupplyChainEvent"
    )
    _date(delivery, "ram:OccurrenceDateTime", invoice.period_start or invoice.issue_date)
    _settlement(transaction, invoice, credited_number, credited_date)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


TEMPLATE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{{ title }} {{ invoice.number }}</title>
<style>
  @page { size: A4; margin: 18mm 16mm; }
  body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; color: #111; }
  h1 { font-size: 16pt; margin: 0 0 4mm; }
  .parties { display: flex; justify-content: space-between; margin-bottom: 6mm; }
  .parties div { width: 48%; }
  table { width: 100%; border-collapse: collapse; margin: 4mm 0; }
  th, td { border-bottom: 1px solid #999; padding: 1.5mm; text-align: left; }
  td.n, th.n { text-align: right; }
  .legal { font-size: 8pt; margin-top: 8mm; }
</style></head><body>
<h1>{{ title }} n° {{ invoice.number }}</h1>
<p>Date : {{ day(invoice.issue_date) }} · Échéance : {{ day(invoice.due_date) }}
{% if invoice.period_start and invoice.period_end %}
 · Période : du {{ day(invoice.period_start) }} au {{ day(invoice.period_end) }}{% endif %}
{% if credited_number %}<br>Avoir sur la facture n° {{ credited_number }}{% endif %}</p>
<div class="parties">
  <div><strong>{{ seller.name }}</strong>{{ address(seller) }}<br>SIREN : {{ seller.siren }}
    {% if seller.vat_number %}<br>N° TVA : {{ seller.vat_number }}{% endif %}</div>
  <div><strong>{{ buyer.name }}</strong>{{ address(buyer) }}<br>SIRET : {{ buyer.siret }}
    {% if buyer.service_code %}<br>Code service : {{ buyer.service_code }}{% endif %}
    {% if buyer.engagement_number %}<br>N° d'engagement : {{ buyer.engagement_number }}{% endif %}</div>
</div>
<table><thead><tr><th>Désignation</th><th class="n">Quantité</th><th class="n">Prix unitaire HT</th>
<th class="n">TVA</th><th class="n">Montant HT</th></tr></thead><tbody>
{% for line in invoice.lines %}<tr><td>{{ line.label }}</td><td class="n">{{ number(line.quantity) }}</td>
<td class="n">{{ money(line.unit_price) }}</td><td class="n">{{ number(line.vat_rate) }} %</td>
<td class="n">{{ money(line.amount) }}</td></tr>{% endfor %}
</tbody></table>
<table>
{% for rate, (base, vat) in vat_by_rate %}<tr><td>TVA {{ number(rate) }} % sur {{ money(base) }}</td>
<td class="n">{{ money(vat) }}</td></tr>{% endfor %}
<tr><td>Total HT</td><td class="n">{{ money(invoice.total_excl_vat) }}</td></tr>
<tr><td>Total TVA</td><td class="n">{{ money(invoice.vat_total) }}</td></tr>
<tr><th>Total TTC</th><th class="n">{{ money(invoice.total_incl_vat) }}</th></tr>
</table>
<p>{{ terms }}{% if seller.iban %}<br>IBAN : {{ seller.iban }}{% if seller.bic %} · BIC : {{ seller.bic }}{% endif %}
{% endif %}</p>
<p class="legal">{{ late_payment }}<br>{{ recovery_fee }}<br>{{ no_discount }}</p>
</body></html>
"""
_PAGE = jinja2.Environment(autoescape=True).from_string(TEMPLATE)


def _number(value: Decimal | str) -> str:
    return format_decimal(Decimal(value), format="#,##0.####", locale="fr_FR")


def _money(value: Decimal | str) -> str:
    return format_decimal(Decimal(value), format="#,##0.00", locale="fr_FR") + " €"


def _address_html(party: dict[str, Any]) -> markupsafe.Markup:
    address = party.get("address") or {}
    parts = [
        address.get("line1"),
        address.get("line2"),
        " ".join(filter(None, [address.get("postcode"), address.get("city")])),
    ]
    return markupsafe.Markup("").join(markupsafe.Markup("<br>") + part for part in parts if part)


def invoice_html(invoice: Invoice, credited_number: str | None = None) -> str:
    """The page WeasyPrint renders: what the XML says, for a person, with the French legal mentions."""
    return _PAGE.render(
        invoice=invoice,
        title="Avoir" if invoice.kind == CREDIT_NOTE else "Facture",
        credited_number=credited_number,
        seller=invoice.seller,
        buyer=invoice.buyer,
        vat_by_rate=list(totals(lines_of(invoice)).vat_by_rate.items()),
        terms=payment_terms(invoice),
        late_payment=LATE_PAYMENT,
        recovery_fee=RECOVERY_FEE,
        no_discount=NO_DISCOUNT,
        day=lambda value: f"{value:%d/%m/%Y}",
        number=_number,
        money=_money,
        address=_address_html,
    )


def invoice_pdf(
    invoice: Invoice, credited_number: str | None = None, credited_date: datetime.date | None = None
) -> bytes:
    """The Factur-X PDF/A-3b of ``invoice``: the XML is checked against the EN 16931 XSD and embedded
    as ``factur-x.xml``."""
    xml = cii_xml(invoice, credited_number, credited_date)
    import weasyprint  # loads Pango (a system library) only when a PDF is made

    pdf = weasyprint.HTML(string=invoice_html(invoice, credited_number)).write_pdf(pdf_variant="pdf/a-3b")
    title = f"{'Avoir' if invoice.kind == CREDIT_NOTE else 'Facture'} {invoice.number}"
    metadata = {
        "author": str(invoice.seller["name"]),
        "keywords": "Factur-X, facture",
        "title": title,
        "subject": f"{title} du {invoice.issue_date:%d/%m/%Y}, {invoice.seller['name']} à {invoice.buyer['name']}",
    }
    return bytes(
        facturx.generate_from_binary(
            pdf, xml, flavor="factur-x", level="en16931", check_xsd=True, pdf_metadata=metadata, lang="fr-FR"
        )
    )
