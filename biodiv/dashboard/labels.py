"""French labels shown by the dashboard for codes stored in the database.

Kept apart from the SQL and the pages so that the vocabulary of the UI is in one place and
can be checked by tests against what the pages print.
"""

from __future__ import annotations

# iNaturalist "iconic taxon" -> French group name shown to users.
ICONIC_GROUPS_FR: dict[str, str] = {
    "Aves": "Oiseaux",
    "Plantae": "Plantes",
    "Insecta": "Insectes",
    "Arachnida": "Arachnides",
    "Mammalia": "Mammifères",
    "Reptilia": "Reptiles",
    "Amphibia": "Amphibiens",
    "Actinopterygii": "Poissons",
    "Mollusca": "Mollusques",
    "Fungi": "Champignons",
    "Chromista": "Chromistes",
    "Protozoa": "Protozoaires",
    "Animalia": "Autres animaux",
}
UNKNOWN_GROUP_FR = "Non classé"

QUALITY_FR: dict[str, str] = {
    "research": "Recherche (validée)",
    "needs_id": "À identifier",
    "casual": "Occasionnelle",
}

# Location certainty classes (see data.certainty_sql).
CERTAINTY_FR: dict[str, str] = {
    "precise": "Localisation certaine",
    "edge": "En limite de commune / précision inconnue",
    "obscured": "Localisation floutée",
}

MEASURES_FR: dict[str, str] = {
    "observations": "Observations",
    "species": "Espèces",
    "per_km2": "Observations par km²",
    "last_observed": "Date de la dernière observation",
}

AREA_TYPES_FR: dict[str, str] = {
    "commune": "Commune",
    "n2000_zsc": "Natura 2000 ZSC",
    "n2000_zps": "Natura 2000 ZPS",
    "znieff1": "ZNIEFF I",
    "znieff2": "ZNIEFF II",
    "custom": "Zonage personnalisé",
}

MONTHS_FR = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
]

HIDDEN_OBSERVER_FR = "observateur masqué"


def group_fr(iconic: str | None) -> str:
    """French group name for an iconic taxon name (``Non classé`` when unknown)."""
    if not iconic:
        return UNKNOWN_GROUP_FR
    return ICONIC_GROUPS_FR.get(iconic, iconic)


def format_int(n: int | float | None) -> str:
    """French thousands separator (narrow no-break space): 12 345."""
    if n is None:
        return "0"
    return f"{int(n):,}".replace(",", "\u202f")
