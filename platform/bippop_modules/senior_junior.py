"""Senior-junior: intergenerational advice and mentoring, both ways."""

from bippop.modules.contract import Choice, Field, Label, MatchingHints, ModuleManifest, Statistic
from bippop_modules import TEMPLATES, count_detail, count_done

manifest = ModuleManifest(
    slug="senior_junior",
    name=Label("Conseils entre générations", "Advice across generations"),
    description=Label(
        "Partager un savoir-faire avec un jeune, ou apprendre de lui.",
        "Share a skill with a young person, or learn from one.",
    ),
    icon="handshake",
    fields=(
        Field(
            "direction",
            Label("Vous souhaitez…", "You would like to…"),
            "choice",
            choices=(
                Choice("give", Label("Transmettre un savoir-faire", "Pass on a skill")),
                Choice("receive", Label("Apprendre quelque chose", "Learn something")),
            ),
        ),
        Field(
            "topic",
            Label("Sur quel sujet ?", "On what topic?"),
            "choice",
            choices=(
                Choice("trade", Label("Un métier", "A trade")),
                Choice("cooking", Label("La cuisine", "Cooking")),
                Choice("gardening", Label("Le jardinage", "Gardening")),
                Choice("digital", Label("Le numérique", "Digital skills")),
                Choice("languages", Label("Une langue", "A language")),
                Choice("other", Label("Autre", "Other")),
            ),
        ),
        Field(
            "details",
            Label("Dites-en un peu plus", "Tell us a little more"),
            "textarea",
            required=False,
            max_length=400,
        ),
    ),
    matching=MatchingHints(
        skills=("mentoring",), vetting_level=1, recurring_allowed=True, default_duration_minutes=60
    ),
    templates=TEMPLATES,
    position=80,
    statistics=(
        Statistic(
            "mentoring_sessions",
            Label("Rencontres entre générations", "Intergenerational meetings"),
            count_done,
        ),
        Statistic(
            "skills_passed_on",
            Label("Savoir-faire transmis", "Skills passed on"),
            count_detail("direction", "give"),
        ),
    ),
    skill_labels={
        "mentoring": Label("Transmission de savoir-faire aux jeunes", "Passing on skills to the young")
    },
)
