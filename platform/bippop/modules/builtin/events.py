"""Group events (a lunch, a workshop, an outing) with a capacity, registration and a waiting list.

Registrations live in the module's own tables (``events``, ``event_registrations``): a request form
here is how a resident asks to be driven or accompanied to an event."""

from bippop.modules.builtin import TEMPLATES, count_done
from bippop.modules.contract import Field, Label, MatchingHints, ModuleManifest, Statistic

manifest = ModuleManifest(
    slug="events",
    name=Label("Sorties et événements", "Outings and events"),
    description=Label(
        "Repas, ateliers, sorties : inscrivez-vous, ou demandez qu'on vous y accompagne.",
        "Lunches, workshops, outings: sign up, or ask for someone to take you there.",
    ),
    icon="calendar",
    fields=(
        Field("event", Label("Quel événement ?", "Which event?"), "text", max_length=160),
        Field(
            "needs_transport",
            Label("J'ai besoin qu'on m'y emmène", "I need a lift there"),
            "boolean",
            required=False,
        ),
        Field(
            "notes",
            Label("Autre chose à savoir ?", "Anything else to know?"),
            "textarea",
            required=False,
            max_length=300,
        ),
    ),
    matching=MatchingHints(vetting_level=1, default_duration_minutes=120),
    templates=TEMPLATES,
    position=70,
    statistics=(
        Statistic(
            "accompaniments",
            Label("Accompagnements à un événement", "Accompaniments to an event"),
            count_done,
        ),
    ),
)
