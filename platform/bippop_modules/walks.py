"""Accompaniment on walks: mobility aids, distance."""

from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop_modules import TEMPLATES, count_done, hours_done

manifest = ModuleManifest(
    slug="walks",
    name=Label("Accompagnement en promenade", "Company on walks"),
    description=Label(
        "Sortir prendre l'air avec quelqu'un, à votre rythme.",
        "Going out for some fresh air with someone, at your own pace.",
    ),
    icon="walk",
    fields=(
        Field(
            "mobility_aid",
            Label("Aide à la marche", "Walking aid"),
            "choice",
            choices=(
                Choice("none", Label("Aucune", "None")),
                Choice("cane", Label("Canne", "Cane")),
                Choice("walker", Label("Déambulateur", "Walker")),
                Choice("wheelchair", Label("Fauteuil roulant", "Wheelchair")),
            ),
        ),
        Field(
            "distance",
            Label("Distance souhaitée", "Distance wanted"),
            "choice",
            choices=(
                Choice("short", Label("Quelques pas (moins de 500 m)", "A few steps (under 500 m)")),
                Choice("medium", Label("Une petite promenade (1 à 2 km)", "A short walk (1 to 2 km)")),
                Choice("long", Label("Une vraie balade (plus de 2 km)", "A real walk (over 2 km)")),
            ),
        ),
        Field(
            "place",
            Label("Un endroit que vous aimeriez ?", "A place you would like?"),
            "text",
            required=False,
            max_length=120,
        ),
    ),
    matching=MatchingHints(
        skills=("walking_companion",), vetting_level=1, recurring_allowed=True, default_duration_minutes=60
    ),
    templates=TEMPLATES,
    position=50,
    statistics=(
        Statistic("walks_done", Label("Promenades réalisées", "Walks made"), count_done),
        Statistic("walk_hours", Label("Heures de promenade", "Hours of walks"), hours_done),
        Statistic(
            "with_wheelchair",
            Label("Promenades en fauteuil", "Walks in a wheelchair"),
            lambda rs: sum(1 for r in rs if r["details"].get("mobility_aid") == "wheelchair"),
        ),
    ),
    skill_labels={"walking_companion": Label("Accompagnement en promenade", "Walking companion")},
)
