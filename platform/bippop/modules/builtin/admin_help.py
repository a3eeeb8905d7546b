"""Help with administrative formalities: which administration, which documents. Needs a vetted
volunteer (personal papers); the request page can point to the nearest France Services."""

from bippop.modules.builtin import TEMPLATES, count_detail, count_done
from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic

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
)
