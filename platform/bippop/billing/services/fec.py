"""The FEC (fichier des écritures comptables, article A47 A-1 du livre des procédures fiscales) of the
co-op's invoicing for a year: the 18 columns, tab-separated, amounts with a decimal comma.

- Sales journal **VE**, one entry per document, dated its issue day: an invoice debits the client's
  account ``411<client>`` with its total including VAT and credits ``706`` (excluding VAT) and ``44571``
  (VAT); a credit note reverses it.
- Bank journal **BQ**, one entry per payment, dated the day it was received: debit ``512``, credit the
  client's ``411<client>``.

Every entry balances (its debits equal its credits). The file is named ``<SIREN>FEC<closing day>.txt``
(the closing day of the year: 31 December). Its labels are French: it is filed with the French tax
administration whatever the page's language.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable
from decimal import Decimal

from bippop.billing.models import CREDIT_NOTE
from bippop.billing.services.revenue import Document, Received, decimal_comma

COLUMNS = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
SALES = ("VE", "Ventes")
BANK = ("BQ", "Banque")
CLIENTS = "411"
SALES_ACCOUNT = ("706", "Prestations de services")
VAT_ACCOUNT = ("44571", "TVA collectée")
BANK_ACCOUNT = ("512", "Banque")
ZERO = Decimal("0.00")
_UNSAFE = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")  # tabs and every line break
_NOT_CODE = re.compile(r"[^A-Z0-9]")


@dataclasses.dataclass(frozen=True)
class Line:
    journal: tuple[str, str]
    number: str
    day: datetime.date
    account: tuple[str, str]
    aux: tuple[str, str]  # (code, label) of the client, or ("", "")
    piece: str
    label: str
    debit: Decimal
    credit: Decimal

    def cells(self) -> list[str]:
        day = self.day.strftime("%Y%m%d")
        return [
            self.journal[0],
            self.journal[1],
            self.number,
            day,
            self.account[0],
            self.account[1],
            self.aux[0],
            self.aux[1],
            self.piece,
            day,
            self.label,
            decimal_comma(self.debit),
            decimal_comma(self.credit),
            "",
            "",
            day,
            "",
            "",
        ]


def client_code(slug: str) -> str:
    """The client's auxiliary code: its tenant's identifier, upper case (``DIVERS`` without one)."""
    code = _NOT_CODE.sub("", slug.upper())[:17]
    return code or "DIVERS"


def _client(slug: str, name: str) -> tuple[tuple[str, str], tuple[str, str]]:
    code = client_code(slug)
    return (CLIENTS + code, "Clients"), (code, name)


def _sale(doc: Document) -> list[Line]:
    account, aux = _client(doc.tenant_slug, doc.tenant_name)
    credit_note = doc.kind == CREDIT_NOTE
    label = f"{'Avoir' if credit_note else 'Facture'} {doc.number}"

    def line(
        acc: tuple[str, str], amount: Decimal, debit_side: bool, aux_: tuple[str, str] = ("", "")
    ) -> Line:
        if credit_note:
            debit_side = not debit_side
        debit, credit = (amount, ZERO) if debit_side else (ZERO, amount)
        return Line(SALES, doc.number, doc.issue_date, acc, aux_, doc.number, label, debit, credit)

    lines = [line(account, doc.incl_vat, True, aux), line(SALES_ACCOUNT, doc.excl_vat, False)]
    if doc.vat:
        lines.append(line(VAT_ACCOUNT, doc.vat, False))
    return lines


def _payment(payment: Received, number: str) -> list[Line]:
    account, aux = _client(payment.tenant_slug, payment.tenant_name)
    label = f"Règlement facture {payment.invoice_number}"
    piece = payment.reference or payment.invoice_number
    return [
        Line(BANK, number, payment.paid_on, BANK_ACCOUNT, ("", ""), piece, label, payment.amount, ZERO),
        Line(BANK, number, payment.paid_on, account, aux, piece, label, ZERO, payment.amount),
    ]


def entries(docs: Iterable[Document], payments: Iterable[Received], year: int) -> list[Line]:
    lines: list[Line] = []
    for doc in sorted(docs, key=lambda d: (d.issue_date, d.number)):
        lines += _sale(doc)
    for index, payment in enumerate(sorted(payments, key=lambda p: (p.paid_on, str(p.id))), start=1):
        lines += _payment(payment, f"BQ{year}-{index:06d}")
    return sorted(lines, key=lambda line: (line.day, line.journal[0] != SALES[0], line.number))


def _clean(text: str) -> str:
    return _UNSAFE.sub(" ", text).strip()


def fec_text(lines: Iterable[Line]) -> bytes:
    rows = ["\t".join(COLUMNS)]
    rows += ["\t".join(_clean(cell) for cell in line.cells()) for line in lines]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def file_name(siren: str | None, year: int) -> str:
    """``<SIREN>FEC<YYYYMMDD>.txt``, the date being the year's closing day."""
    digits = re.sub(r"\D", "", siren or "") or "000000000"
    return f"{digits}FEC{year}1231.txt"
