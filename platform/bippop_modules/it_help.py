"""Help with a computer, a tablet or a phone, at home or remotely."""

from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop_modules import TEMPLATES, count_detail, count_done

manifest = ModuleManifest(
    slug="it_help",
    name=Label("Aide numérique", "Help with computers"),
    description=Label(
        "Ordinateur, tablette ou téléphone : installer, comprendre, appeler ses proches en vidéo.",
        "Computer, tablet or phone: setting up, understanding, video-calling your family.",
    ),
    icon="screen",
    fields=(
        Field(
            "device",
            Label("Quel appareil ?", "Which device?"),
            "choice",
            choices=(
                Choice("computer", Label("Ordinateur", "Computer")),
                Choice("tablet", Label("Tablette", "Tablet")),
                Choice("phone", Label("Téléphone portable", "Mobile phone")),
                Choice("tv", Label("Télévision, box", "TV, internet box")),
            ),
        ),
        Field(
            "problem",
            Label("Que voulez-vous faire ou réparer ?", "What do you want to do or fix?"),
            "textarea",
            max_length=400,
        ),
        Field(
            "where",
            Label("Où ?", "Where?"),
            "choice",
            choices=(
                Choice("home", Label("Chez moi", "At home")),
                Choice("remote", Label("À distance (téléphone, visio)", "Remotely (phone, video)")),
            ),
        ),
    ),
    matching=MatchingHints(
        skills=("digital_help",), vetting_level=1, default_duration_minutes=60, remote_possible=True
    ),
    templates=TEMPLATES,
    position=40,
    statistics=(
        Statistic("it_sessions", Label("Aides numériques réalisées", "Computer help sessions"), count_done),
        Statistic("remote", Label("Aides à distance", "Remote help"), count_detail("where", "remote")),
    ),
    skill_labels={
        "digital_help": Label("Aide avec l’ordinateur et le téléphone", "Help with computers and phones")
    },
)
