"""Help with administrative formalities: which administration, which documents. Needs a vetted
volunteer (personal papers); the request page can point to the nearest France Services."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.models import Person
from bippop.geography import distance_km
from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop.tenants.tenant_settings import Setting
from bippop_modules import TEMPLATES, count_detail, count_done

ADMINISTRATIONS = (
    Choice("caf", Label("CAF (allocations)", "CAF (family benefits)")),
    Choice("retraite", Label("Caisse de retraite", "Pension fund")),
    Choice("cpam", Label("Assurance maladie (CPAM)", "Health insurance (CPAM)")),
    Choice("impots", Label("Impôts", "Taxes")),
    Choice("mdph", Label("MDPH (handicap)", "MDPH (disability)")),
    Choice("apa", Label("APA (allocation personnalisée d'autonomie)", "APA (personal autonomy allowance)")),
    Choice("energie", Label("Énergie, eau, téléphone", "Energy, water, phone")),
    Choice("autre", Label("Autre", "Other")),
)


async def nearest_france_services(db_session: AsyncSession, me: Person) -> dict[str, Any] | None:
    """The nearest France Services of the list the council keeps in its settings (``france_services``)."""
    sites = await db_session.scalar(select(Setting.value).where(Setting.key == "france_services"))
    if not sites:
        return None
    best, best_km = None, None
    for site in sites:
        km = None
        if me.latitude is not None and me.longitude is not None and site.get("latitude") is not None:
            km = distance_km(me.latitude, me.longitude, float(site["latitude"]), float(site["longitude"]))
        if best is None or (km is not None and (best_km is None or km < best_km)):
            best, best_km = site, km
    return {**(best or {}), "distance_km": best_km}


async def ask_form_context(db_session: AsyncSession, me: Person) -> dict[str, Any]:
    return {"france_services": await nearest_france_services(db_session, me)}


manifest = ModuleManifest(
    slug="admin_help",
    name=Label("Aide aux démarches", "Help with formalities"),
    description=Label(
        "Remplir un dossier, comprendre un courrier, prendre un rendez-vous avec une administration.",
        "Filling in a form, understanding a letter, booking an appointment with an administration.",
    ),
    icon="folder",
    fields=(
        Field(
            "administration",
            Label("Quelle administration ?", "Which administration?"),
            "choice",
            choices=ADMINISTRATIONS,
        ),
        Field(
            "topic",
            Label("De quoi s'agit-il ?", "What is it about?"),
            "textarea",
            max_length=400,
            hint=Label(
                "Sans numéro de dossier ni de sécurité sociale : le bénévole les verra avec vous.",
                "No file or social-security number here: the volunteer will see them with you.",
            ),
        ),
        Field(
            "documents",
            Label("Documents que vous avez déjà", "Documents you already have"),
            "choices",
            required=False,
            choices=(
                Choice("letter", Label("Le courrier reçu", "The letter received")),
                Choice("id", Label("Pièce d'identité", "Identity document")),
                Choice("tax_notice", Label("Avis d'imposition", "Tax notice")),
                Choice("bank", Label("RIB", "Bank details")),
            ),
        ),
        Field(
            "deadline",
            Label("Date limite, s'il y en a une", "Deadline, if there is one"),
            "date",
            required=False,
        ),
    ),
    matching=MatchingHints(skills=("admin_formalities",), vetting_level=2, default_duration_minutes=90),
    templates=TEMPLATES,
    position=30,
    statistics=(
        Statistic("formalities_done", Label("Démarches accompagnées", "Formalities helped with"), count_done),
        Statistic(
            "caf_requests", Label("Demandes CAF", "CAF requests"), count_detail("administration", "caf")
        ),
        Statistic(
            "pension_requests",
            Label("Demandes retraite", "Pension requests"),
            count_detail("administration", "retraite"),
        ),
    ),
    hooks={"ask_form_context": ask_form_context},
    skill_labels={
        "admin_formalities": Label("Aide aux démarches et aux papiers", "Help with forms and paperwork")
    },
)
