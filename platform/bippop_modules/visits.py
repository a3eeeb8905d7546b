"""Conviviality visits: someone comes by for a chat, once or regularly; a circle of volunteers forms
around one person (continuity counts in matching)."""

from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop_modules import TEMPLATES, count_detail, count_done, hours_done

manifest = ModuleManifest(
    slug="visits",
    name=Label("Visites de convivialité", "Friendly visits"),
    description=Label(
        "Quelqu'un passe vous voir pour discuter, prendre un café, partager un moment.",
        "Someone comes by for a chat, a coffee, a moment together.",
    ),
    icon="visit",
    fields=(
        Field(
            "frequency",
            Label("À quel rythme ?", "How often?"),
            "choice",
            choices=(
                Choice("once", Label("Une fois", "Once")),
                Choice("weekly", Label("Chaque semaine", "Every week")),
                Choice("fortnightly", Label("Toutes les deux semaines", "Every two weeks")),
            ),
        ),
        Field(
            "interests",
            Label(
                "Ce qui vous plaît (pour trouver de quoi parler)",
                "What you enjoy (to find things to talk about)",
            ),
            "textarea",
            required=False,
            max_length=300,
            hint=Label(
                "Par exemple : jardinage, cartes, histoire locale",
                "For example: gardening, cards, local history",
            ),
        ),
        Field(
            "pets",
            Label("Y a-t-il un animal chez vous ?", "Is there a pet at home?"),
            "boolean",
            required=False,
        ),
    ),
    matching=MatchingHints(vetting_level=1, recurring_allowed=True, default_duration_minutes=60),
    templates=TEMPLATES,
    position=10,
    statistics=(
        Statistic("visits_done", Label("Visites réalisées", "Visits made"), count_done),
        Statistic("visit_hours", Label("Heures de visite", "Hours of visits"), hours_done),
        Statistic(
            "weekly_circles",
            Label("Visites hebdomadaires demandées", "Weekly visits asked for"),
            count_detail("frequency", "weekly"),
        ),
    ),
)
