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


def quality_text(grades: tuple[str, ...] | list[str], short: bool = False) -> str:
    """The quality grades counted, as every page says them: ``Qualité : vérifiables
    (recherche + à identifier)`` for the default (iNaturalist's "verifiable"), ``toutes``
    for no selection, else the grades chosen; ``short`` leaves out the parenthesis (the
    workshop screen's one-line footer)."""
    chosen = set(grades)
    if not chosen or chosen >= set(QUALITY_FR):
        return "Qualité : toutes" + ("" if short else " (recherche, à identifier et occasionnelles)")
    if chosen == {"research", "needs_id"}:
        return "Qualité : vérifiables" + ("" if short else " (recherche + à identifier)")
    return "Qualité : " + ", ".join(QUALITY_FR[g].lower() for g in QUALITY_FR if g in chosen)


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
    "effort": "Jours d'observation par km²",
}

# The Carte's thematic layers: one drawn at a time (key -> French label). "communes:<m>"
# colours the communes by measure <m>; "grid:<metres>" draws the national Lambert-93 grid.
LAYERS_FR: dict[str, str] = {
    "communes:observations": "Communes : nombre d'observations",
    "communes:species": "Communes : nombre d'espèces",
    "communes:per_km2": "Communes : observations par km²",
    "communes:last_observed": "Communes : date de la dernière observation",
    "communes:effort": "Communes : effort de prospection (jours d'observation par km²)",
    "grid:10000": "Mailles 10 km (grille nationale Lambert-93)",
    "grid:1000": "Mailles 1 km (grille nationale Lambert-93)",
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


def plural(n: int | float | None, one: str, many: str | None = None) -> str:
    """``1 observation``, ``2 observations``, ``0 observation`` (French: 0 and 1 are singular),
    with the thousands separator of :func:`format_int`."""
    n = 0 if n is None else n
    word = one if abs(n) < 2 else (many or one + "s")
    return f"{format_int(n)} {word}"


def format_date(d) -> str:
    """dd/mm/yyyy, or "—" when missing."""
    if d is None:
        return "—"
    try:
        import pandas as pd

        if pd.isna(d):
            return "—"
        return pd.Timestamp(d).strftime("%d/%m/%Y")
    except (TypeError, ValueError):
        return str(d)


# Why a refresh failed, in French, by the kind of error the update raised (its class and the
# biodiv classes above it: biodiv.cli.root writes them for dashboard --live), most specific
# first. A catalogue, not string matching: the English message stays in the log.
FAILURES_FR: dict[str, str] = {
    "InatUnreachable": "iNaturalist injoignable (pas de réseau ?)",
    "BudgetExhausted": "quota de requêtes iNaturalist du jour atteint",
    "InatError": "iNaturalist a refusé la demande",
    "ServiceUnreachable": "service des contours de communes injoignable",
    "GeoSourceError": "service des contours de communes en erreur",
    "StoreBusy": "une autre mise à jour était en cours",
    "StoreDiskFull": "disque plein",
    "DiskFull": "disque plein",
    "StoreCorrupt": "fichier de données illisible",
    "StoreError": "base de données inaccessible",
    "TerritoryMissing": "territoire non défini (biodiv init)",
    "TerritoryError": "territoire mal défini (biodiv init)",
    "AreaImportError": "contours des communes manquants ou invalides (biodiv areas fetch)",
    "ConfigError": "fichier de configuration invalide",
    "Timeout": "mise à jour trop longue, interrompue",
}
FAILURE_STATUS_FR = {"budget": "quota de requêtes iNaturalist du jour atteint", "partial": "mise à jour partielle"}
FAILURE_UNKNOWN_FR = "erreur inattendue (détail dans le journal)"


def failure_fr(kinds: list[str] | tuple[str, ...] | None, status: str | None = None) -> str:
    """The French reason of a failed refresh, from its error kinds (else its run status)."""
    for kind in kinds or ():
        if kind in FAILURES_FR:
            return FAILURES_FR[kind]
    return FAILURE_STATUS_FR.get(status or "", FAILURE_UNKNOWN_FR)
