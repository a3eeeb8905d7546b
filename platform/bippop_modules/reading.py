"""Reading aloud, at home or by phone, following the person's tastes."""

from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop_modules import TEMPLATES, count_detail, count_done, hours_done

manifest = ModuleManifest(
    slug="reading",
    name=Label("Lecture à voix haute", "Reading aloud"),
    description=Label(
        "Un bénévole vous lit le journal, un roman, votre courrier, chez vous ou par téléphone.",
        "A volunteer reads you the paper, a novel, your letters, at home or on the phone.",
    ),
    icon="book",
    fields=(
        Field(
            "where",
            Label("Où ?", "Where?"),
            "choice",
            choices=(
                Choice("home", Label("Chez moi", "At home")),
                Choice("phone", Label("Par téléphone", "On the phone")),
            ),
        ),
        Field(
            "tastes",
            Label("Ce que vous aimez écouter", "What you like to hear"),
            "choices",
            required=False,
            choices=(
                Choice("news", Label("L'actualité", "The news")),
                Choice("novels", Label("Des romans", "Novels")),
                Choice("poetry", Label("De la poésie", "Poetry")),
                Choice("letters", Label("Mon courrier", "My letters")),
                Choice("history", Label("L'histoire", "History")),
            ),
        ),
        Field(
            "notes",
            Label("Autre chose à savoir ?", "Anything else to know?"),
            "textarea",
            required=False,
            max_length=300,
        ),
    ),
    matching=MatchingHints(
        skills=("reading_aloud",),
        vetting_level=1,
        recurring_allowed=True,
        default_duration_minutes=45,
        remote_possible=True,
    ),
    templates=TEMPLATES,
    position=20,
    statistics=(
        Statistic("reading_sessions", Label("Séances de lecture", "Reading sessions"), count_done),
        Statistic("reading_hours", Label("Heures de lecture", "Hours of reading"), hours_done),
        Statistic(
            "by_phone", Label("Demandes par téléphone", "Requests by phone"), count_detail("where", "phone")
        ),
    ),
    skill_labels={"reading_aloud": Label("Lecture à voix haute", "Reading aloud")},
)
