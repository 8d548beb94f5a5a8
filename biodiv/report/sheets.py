"""What a printed sheet says, read from the store through the dashboard's own queries.

Why the dashboard's queries (:mod:`biodiv.dashboard.data`): a sheet handed to a mayor must
give the same numbers as the Fiche commune on screen and as ``biodiv query run
commune_richness`` (the same filters, the same default quality). This module only picks
the area, builds the filters and gathers the figures into a :class:`Sheet`; rendering is
:mod:`biodiv.report.render`.

Every sheet is public unless the caller asks for a private one (``public=False``): public
sheets go through :func:`public_filters`, the public layer shared with the dashboard's
public pages and Mode atelier (:mod:`biodiv.sensitivity.public`: sensitive observations only
where their SINP level allows; observer logins never appear; maps are aggregated to
communes, never points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from biodiv.dashboard import data
from biodiv.dashboard.labels import quality_text
from biodiv.errors import BiodivError
from biodiv.sensitivity import public as sensitive

KINDS = {"territory": "Territoire", "commune": "Commune", "site": "Site Natura 2000", "species": "Espèce"}
SITE_TYPES = ("n2000_zsc", "n2000_zps")
AREA_LABELS = {"n2000_zsc": "Zone spéciale de conservation (ZSC)", "n2000_zps": "Zone de protection spéciale (ZPS)"}
LICENCES = {
    "cc0": "CC0", "cc-by": "CC BY", "cc-by-nc": "CC BY-NC", "cc-by-sa": "CC BY-SA", "cc-by-nd": "CC BY-ND",
    "cc-by-nc-sa": "CC BY-NC-SA", "cc-by-nc-nd": "CC BY-NC-ND",
}


class ReportError(BiodivError):
    """A sheet that cannot be made (unknown commune, site or species): one line."""


@dataclass(frozen=True)
class Options:
    """The filters a document is made with, as the exports take them."""

    since: date | None = None
    until: date | None = None
    groups: tuple[str, ...] = ()
    quality: tuple[str, ...] = data.DEFAULT_GRADES
    public: bool = True
    base: data.Filters | None = None    # the dashboard's current filters, when made from a page
    sensitivity_default: int = 2        # [sensitivity] default_level (without a referential)

    def filters(self) -> data.Filters:
        if self.base is not None:
            return self.base.with_(area=None, species=())
        return data.Filters(date_from=self.since, date_to=self.until, groups=self.groups, quality=self.quality)

    @classmethod
    def from_filters(cls, f: data.Filters, public: bool = True) -> "Options":
        """A document with a dashboard page's filters (the sheet's own area or species is
        chosen by :func:`build`)."""
        return cls(since=f.date_from, until=f.date_to, groups=f.groups, quality=f.quality, public=public, base=f,
                   sensitivity_default=f.sensitivity_default)


@dataclass
class Sheet:
    kind: str                       # territory, commune, site, species
    title: str
    subtitle: str
    code: str | None
    area_id: int | None
    filters: data.Filters
    options: Options
    figures: dict[str, Any]
    territory_figures: dict[str, Any]
    effort: dict[str, int]
    species: pd.DataFrame
    phenology: pd.DataFrame
    per_year: pd.DataFrame
    measures: pd.DataFrame          # per commune of the territory, with the sheet's filters
    map_measures: pd.DataFrame      # what the map colours: the territory's communes, the area in context
    info: dict[str, Any]            # db_info: territory, last update, demo flag
    licences: list[tuple[str, int]] = field(default_factory=list)
    area_km2: float | None = None
    communes: list[str] = field(default_factory=list)   # a site's or a species' communes
    sensitivity: dict[str, Any] = field(default_factory=dict)   # biodiv.sensitivity.public.summary

    @property
    def quality_label(self) -> str:
        return quality_text(self.options.quality)

    @property
    def period_label(self) -> str:
        first, last = self.figures.get("first_observed"), self.figures.get("last_observed")
        since, until = self.options.since, self.options.until
        start = since or first
        end = until or last
        if start is None and end is None:
            return "aucune observation"
        fmt = (lambda d: d.strftime("%d/%m/%Y") if d is not None else "…")
        return f"du {fmt(start)} au {fmt(end)}"


def public_filters(f: data.Filters, public: bool, sensitivity_default: int = 2) -> data.Filters:
    """The filters of an output: public ones read the observations through the public layer
    (:mod:`biodiv.sensitivity.public`, as the dashboard's public pages and Mode atelier do):
    sensitive observations only where their SINP level allows, by their blurred place."""
    return f.with_(public=public, sensitivity_default=sensitivity_default)


def _area(con: duckdb.DuckDBPyConnection, types: tuple[str, ...], code: str, what: str) -> dict[str, Any]:
    row = con.execute(
        "SELECT id FROM areas WHERE list_contains(?::VARCHAR[], type) AND upper(code) = upper(?) "
        "AND (type <> 'commune' OR in_territory) ORDER BY id LIMIT 1", [list(types), code.strip()]).fetchone()
    if row is None:
        raise ReportError(f"no {what} with code {code!r} in this store: `biodiv areas list` shows the codes")
    return data.area_info(con, row[0])


def _site_types(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """Natura 2000 and any other zoning loaded (``biodiv areas import --type``): every type but communes."""
    return tuple(t for t in data.area_types_present(con) if t != "commune") or SITE_TYPES


def _species_key(con: duckdb.DuckDBPyConnection, taxon: str) -> tuple[int, str, str | None]:
    text = taxon.strip()
    if text.isdigit():
        row = con.execute("SELECT coalesce(species_id, id), name, common_name_fr FROM taxa WHERE id = ?",
                          [int(text)]).fetchone()
    else:
        row = con.execute(
            "SELECT coalesce(species_id, id), name, common_name_fr FROM taxa "
            "WHERE lower(name) = lower(?) OR lower(common_name_fr) = lower(?) ORDER BY rank_level LIMIT 1",
            [text, text]).fetchone()
    if row is None:
        raise ReportError(f"no taxon {taxon!r} in this store (give its scientific name, French name or iNaturalist id)")
    name = con.execute("SELECT name, common_name_fr FROM taxa WHERE id = ?", [row[0]]).fetchone() or row[1:]
    return int(row[0]), name[0], name[1]


def _licences(con: duckdb.DuckDBPyConnection, f: data.Filters) -> list[tuple[str, int]]:
    sql, params = data.filtered_sql(f)
    rows = con.execute(
        f"WITH f AS ({sql}) SELECT coalesce(o.license_code, ''), count(*) FROM f "
        "JOIN observations o ON o.id = f.id GROUP BY 1 ORDER BY 2 DESC", params).fetchall()
    return [(LICENCES.get(code.lower(), "tous droits réservés" if not code else code.upper()), n) for code, n in rows]


def build(con: duckdb.DuckDBPyConnection, kind: str, code: str | None = None, options: Options = Options(),
          sensitivity: dict[str, Any] | None = None) -> Sheet:
    """The figures of one sheet: ``kind`` is territory, commune (INSEE ``code``), site
    (Natura 2000 ``code``) or species (``code``: name or taxon id). ``sensitivity``: the
    store's :func:`biodiv.sensitivity.public.summary`, when the caller already has it (the
    atlas computes it once for all its sheets)."""
    if kind not in KINDS:
        raise ReportError(f"unknown sheet {kind!r}: territory, commune, site or species")
    base = public_filters(options.filters(), options.public, options.sensitivity_default)
    info = data.db_info(con)
    territory = info.get("territory") or "le territoire"
    area_id = None
    area_km2 = None
    communes: list[str] = []
    if kind == "territory":
        f, title, subtitle = base, territory, "Fiche du territoire"
        area_km2 = con.execute("SELECT sum(area_km2) FROM areas WHERE type = 'commune' AND in_territory").fetchone()[0]
    elif kind == "commune":
        area = _area(con, ("commune",), code or "", "commune")
        area_id, area_km2 = area["area_id"], area["area_km2"]
        f, title = base.with_(area=area_id), area["name"]
        subtitle = f"Fiche commune (INSEE {area['code']}) · {territory}"
    elif kind == "site":
        area = _area(con, _site_types(con), code or "", "Natura 2000 site (or other zoning)")
        area_id, area_km2 = area["area_id"], area["area_km2"]
        f, title = base.with_(area=area_id), area["name"]
        subtitle = f"{AREA_LABELS.get(area['type'], 'Site')} {area['code']} · {territory}"
    else:
        key, name, common = _species_key(con, code or "")
        f = base.with_(species=(key,))
        title = common or name
        subtitle = f"Fiche espèce · {name} · {territory}" if common else f"Fiche espèce · {territory}"
        code = str(key)
    measures = data.area_measures(con, f, "commune")
    # a commune's or a site's map shows it among the territory's communes, coloured by all the
    # territory's observations (with the same filters); a species' map, by that species'
    map_measures = measures if kind in ("territory", "species") else data.area_measures(con, base, "commune")
    if kind in ("site", "species"):
        communes = list(measures.loc[measures["observations"] > 0, "name"])
    return Sheet(
        kind=kind, title=title, subtitle=subtitle, code=code, area_id=area_id, filters=f, options=options,
        figures=data.key_figures(con, f), territory_figures=data.key_figures(con, base),
        effort=data.effort_totals(con, f), species=data.species_list(con, f),
        phenology=data.phenology_by_group(con, f), per_year=data.per_year(con, f), measures=measures,
        map_measures=map_measures,
        info=info, licences=_licences(con, f), area_km2=area_km2, communes=communes,
        sensitivity=sensitivity if sensitivity is not None else sensitive.summary(con, options.sensitivity_default),
    )


def sheet_codes(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """The communes and Natura 2000 sites of the territory, as (code, name): the atlas's
    contents."""
    communes = data.area_list(con, "commune")
    sites = data.area_list(con, SITE_TYPES)
    return {"commune": list(zip(communes["code"], communes["name"])),
            "site": list(zip(sites["code"], sites["name"]))}
