"""Errands and shopping: the list, a budget, and the reimbursement recorded."""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop_modules import TEMPLATES, count_done


def amount_reimbursed(requests: Sequence[Mapping[str, Any]]) -> float:
    return float(
        sum((Decimal(str(r["details"].get("amount_reimbursed") or 0)) for r in requests), Decimal(0))
    )


manifest = ModuleManifest(
    slug="errands",
    name=Label("Courses", "Errands"),
    description=Label(
        "Un bénévole fait vos courses ou vous accompagne au magasin.",
        "A volunteer does your shopping or goes to the shop with you.",
    ),
    icon="basket",
    fields=(
        Field("shopping_list", Label("Votre liste", "Your list"), "textarea", max_length=1000),
        Field("budget", Label("Budget maximum (€)", "Maximum budget (€)"), "money", maximum=500),
        Field(
            "payment",
            Label("Comment rembourser le bénévole ?", "How will you pay the volunteer back?"),
            "choice",
            choices=(
                Choice("cash", Label("En espèces, avec le ticket", "In cash, with the receipt")),
                Choice("cheque", Label("Par chèque", "By cheque")),
                Choice("advance", Label("Je donne l'argent avant", "I give the money beforehand")),
            ),
        ),
        Field("shop", Label("Magasin préféré", "Preferred shop"), "text", required=False, max_length=120),
        Field(
            "amount_reimbursed",
            Label("Montant remboursé (€)", "Amount paid back (€)"),
            "money",
            required=False,
            maximum=500,
        ),
    ),
    matching=MatchingHints(
        skills=("errands",), vetting_level=1, recurring_allowed=True, default_duration_minutes=60
    ),
    templates=TEMPLATES,
    position=60,
    statistics=(
        Statistic("errands_done", Label("Courses faites", "Errands run"), count_done),
        Statistic(
            "amount_reimbursed",
            Label("Montant remboursé aux bénévoles (€)", "Amount paid back to volunteers (€)"),
            amount_reimbursed,
        ),
    ),
    skill_labels={"errands": Label("Courses et commissions", "Errands and shopping")},
)
