"""Group events (a lunch, a workshop, an outing) with a capacity, registration and a waiting list.

The whole module is here: its tables (``models.py``, created by its own branch of the tenant chain in
``migrations/``), the race-free registrations (``registrations.py``), its use cases (``services.py``),
the residents' page ``/evenements`` (``portal.py``) and the organisers' ``/coordination/evenements``
(``coordination.py``), its templates, permissions, menu links, audit labels and export. A request
form here is how a resident asks to be driven or accompanied to an event."""

from pathlib import Path

from bippop.modules.contract import (
    Export,
    Field,
    Label,
    MatchingHints,
    MenuLink,
    ModuleManifest,
    Notice,
    Permission,
    Retention,
    Statistic,
)
from bippop_modules import count_done
from bippop_modules.events.coordination import EventsController as CoordinationEvents
from bippop_modules.events.exports import registrations_rows
from bippop_modules.events.models import REGISTRATIONS_KEPT_DAYS
from bippop_modules.events.portal import EventsController as PortalEvents

HERE = Path(__file__).parent

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
    templates=HERE / "templates",
    position=70,
    controllers=(PortalEvents, CoordinationEvents),
    links=(
        MenuLink(
            "portal",
            "/evenements",
            Label("Voir les événements de la commune", "See the events of the commune"),
        ),
        MenuLink("coordination", "/coordination/evenements", Label("Événements", "Events"), "events.manage"),
    ),
    permissions=(
        Permission(
            "events.join",
            frozenset({"beneficiary", "relative", "volunteer"}),
            "Register for an event (or join its waiting list) and cancel one's registration",
        ),
        Permission(
            "events.manage",
            frozenset({"partner", "coordinator", "tenant_admin"}),
            "Create and cancel events, see who registered, download the registrations",
        ),
    ),
    settings=(
        Field(
            "default_capacity",
            Label(
                "Places proposées par défaut pour un nouvel événement",
                "Places offered by default for a new event",
            ),
            "integer",
            minimum=1,
            maximum=10_000,
            default=20,
        ),
    ),
    jobs=("bippop_modules.events.jobs",),
    exports=(
        Export(
            "registrations",
            Label("Inscriptions aux événements à venir", "Registrations for the events to come"),
            "events.manage",
            (
                Label("Événement", "Event"),
                Label("Date", "Date"),
                Label("Personne", "Person"),
                Label("Inscription", "Registration"),
            ),
            registrations_rows,
        ),
    ),
    migrations=HERE / "migrations",
    retention=(
        Retention(
            Label(
                "Inscriptions aux événements (comptées depuis la fin de l’événement)",
                "Registrations for events (counted from the end of the event)",
            ),
            REGISTRATIONS_KEPT_DAYS,
        ),
    ),
    notices={
        "event_cancelled": Notice(
            Label("Un événement a été annulé", "An event was cancelled"),
            Label(
                "Un événement auquel vous étiez inscrit a été annulé. Nous en sommes désolés.",
                "An event you registered for has been cancelled. We are sorry.",
            ),
            "/evenements",
            Label("Voir les événements : %(link)s", "See the events: %(link)s"),
        ),
        "event_place_freed": Notice(
            Label("Une place s’est libérée pour vous à un événement", "A place is free for you at an event"),
            Label(
                "Une place s’est libérée : votre inscription est confirmée. Si vous ne pouvez pas venir, "
                "annulez votre inscription sur la page des événements.",
                "A place has become free and you are now registered. If you cannot come, unregister on "
                "the events page.",
            ),
            "/evenements",
            Label("Voir les événements : %(link)s", "See the events: %(link)s"),
        ),
    },
    audit_labels={
        "event_created": Label("Événement créé", "Event created"),
        "event_cancelled": Label("Événement annulé", "Event cancelled"),
        "event_registration": Label("Inscription à un événement", "Registration for an event"),
        "event_registration_cancelled": Label(
            "Inscription à un événement annulée", "Registration for an event cancelled"
        ),
        "event_registration_promoted": Label(
            "Place libérée pour une personne en liste d'attente",
            "Place freed for someone on the waiting list",
        ),
        "event_registrants_read": Label(
            "Liste des personnes inscrites à un événement consultée",
            "List of people registered for an event read",
        ),
    },
    statistics=(
        Statistic(
            "accompaniments",
            Label("Accompagnements à un événement", "Accompaniments to an event"),
            count_done,
        ),
    ),
)
