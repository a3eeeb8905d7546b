"""A tenant's official code: one of the official list (``bippop.collectivities``), once on the platform.

``TenantService.register`` calls :func:`claim_official_code` inside its transaction. The check and the
insert that follows are serialised per (kind, code) by a transaction-level advisory lock, so two
councils signing up for the same commune at the same moment cannot both pass: the second waits for
the first's commit, then sees its row. A tenant being deleted (status ``deleting``) frees its code.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from bippop import collectivities
from bippop.collectivities import Collectivity
from bippop.tenants.errors import TenantError

HINTS = {
    "commune": "une commune se désigne par son code INSEE à 5 caractères (60159 pour Compiègne, 2A004 pour Ajaccio)",
    "epci": "une intercommunalité se désigne par son SIREN à 9 chiffres (200067965 pour l'agglomération de Compiègne)",
    "departement": "un département se désigne par son numéro (60, 2A, 974)",
}
WHAT = {
    "commune": "aucune commune",
    "epci": "aucune intercommunalité (EPCI)",
    "departement": "aucun département",
}


def official(kind: str, code: str) -> Collectivity:
    """The collectivity ``(kind, code)`` names, or a TenantError saying what was typed and what is expected."""
    found = collectivities.find(kind, code)
    if found is None:
        typed = code.strip()[:40]
        raise TenantError(
            f"Le code « {typed} » ne désigne {WHAT.get(kind, 'aucune collectivité')} de la liste officielle "
            f"({collectivities.DATASET}) : {HINTS.get(kind, 'vérifiez le type et le code')}.",
            field="official_code",
            code="unknown",
        )
    return found


def claim_official_code(session: Session, kind: str, code: str) -> Collectivity:
    """Check ``(kind, code)`` is official and not used by a tenant (other than one being deleted),
    holding until the transaction ends a lock that makes a concurrent claim of it wait."""
    found = official(kind, code)
    session.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"bippop.official_code:{kind}:{found.code}"},
    )
    taken = session.execute(
        text(
            "select slug from platform.tenants where kind = :kind and official_code = :code "
            "and status <> 'deleting' order by created_at limit 1"
        ),
        {"kind": kind, "code": found.code},
    ).scalar()
    if taken is not None:
        raise TenantError(
            f"{found.label}, code {found.code}, a déjà son portail sur la plateforme (« {taken} ») : "
            "contactez son administrateur plutôt que d'en créer un second.",
            field="official_code",
            code="taken",
        )
    return found
