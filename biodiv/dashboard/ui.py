"""Streamlit plumbing shared by the pages: the read-only database, cached queries, the
sidebar filters, banners, key figures and the map widget.

Why here: the pages stay short and only arrange what ``data`` and ``maps`` return.

The database is opened read-only and the connection is cached per file identity (inode,
mtime, size): a writer publishes a new file with an atomic rename, so the next rerun sees a
new identity and opens the new file, while sessions still using the old one keep their
snapshot. Query results are cached on the same identity plus the filters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from datetime import date
from typing import Any, Callable

import duckdb
import pandas as pd
import streamlit as st

from biodiv.config import Config, load_config
from biodiv.dashboard import data
from biodiv.dashboard.labels import (
    CERTAINTY_FR, QUALITY_FR, UNKNOWN_GROUP_FR, failure_fr, format_int, group_fr, plural, quality_text,
)
from biodiv.errors import BiodivError
from biodiv.store.database import Store, StoreBusy, StoreMissing, cursor as store_cursor
from biodiv.store.runs import read_live_status, read_pending

DEMO_BANNER = "Données de démonstration (fictives)"


@dataclass(frozen=True)
class Db:
    """Identity of the published database file (the cache key of everything read from it)."""

    path: str
    inode: int
    mtime_ns: int
    size: int


# ---------------------------------------------------------------------------
# Configuration and database
# ---------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _config(config_env: str | None, db_env: str | None) -> Config:
    return load_config()


def config() -> Config:
    return _config(os.environ.get("BIODIV_CONFIG"), os.environ.get("BIODIV_DB"))


# DuckDB threads of the dashboard's readers: half the cores. Why: right after `biodiv
# update` publishes a file, the warm-up's queries ran on every core while the visitor's
# browser, often on the same machine (a laptop in a workshop), started the page; with one
# core left to it, Vue d'ensemble at 1M observations drew its map in 2.63 s instead of
# 2.89 s (bench: alternated visits, see docs/performance.md).
READER_THREADS = max(1, (os.cpu_count() or 2) // 2)


def open_reader(path: Path) -> duckdb.DuckDBPyConnection:
    """:meth:`biodiv.store.Store.reader` (same checks, same errors) on a plain in-memory
    instance with ``READER_THREADS``: no ``LOAD spatial`` (~0.35 s of CPU per instance, paid
    for every published file); the queries that need spatial functions run on
    ``spatial``'s instance."""
    con = duckdb.connect(":memory:", config={"threads": READER_THREADS})
    try:
        return Store(path).reader(con)
    except BaseException:
        con.close()
        raise


@st.cache_resource(show_spinner=False, max_entries=2)
def _connection(db: Db) -> duckdb.DuckDBPyConnection:
    return open_reader(Path(db.path))


def cursor(db: Db) -> duckdb.DuckDBPyConnection:
    """A cursor of the cached read-only connection (one per use: sessions run in threads)."""
    return store_cursor(_connection(db))


def open_db() -> Db:
    """The published database, or a French message with the command to run and ``st.stop()``."""
    cfg = config()
    path = cfg.db
    try:
        stat = path.stat()
    except FileNotFoundError:
        st.error(
            f"Aucune base de données n'a été trouvée ({path}).\n\n"
            "Pour la créer : `biodiv init` puis `biodiv update`. "
            "Pour une démonstration hors ligne : `biodiv demo` puis `biodiv dashboard --demo`."
        )
        st.stop()
    db = Db(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    try:
        cursor(db).close()
    except StoreMissing:
        st.error(f"Aucune base de données n'a été trouvée ({path}) : lancez `biodiv init` puis `biodiv update`.")
        st.stop()
    except StoreBusy:
        st.warning("La base de données est en cours de mise à jour : réessayez dans un instant.")
        st.stop()
    except BiodivError as exc:
        st.error(f"La base de données ne peut pas être lue : {exc}")
        st.stop()
    return db


# data functions that call spatial functions: run on spatial's instance (see open_reader)
SPATIAL_QUERIES = frozenset({"area_features"})


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, db: Db, args: tuple, kwargs: tuple) -> Any:
    if name in SPATIAL_QUERIES:
        from biodiv.dashboard import spatial

        return spatial.run(db, getattr(data, name), *args, **dict(kwargs))
    con = cursor(db)
    try:
        return getattr(data, name)(con, *args, **dict(kwargs))
    finally:
        con.close()


def overview_tables(db: Db, f: data.Filters, year: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Vue d'ensemble's tables: per group, per year (with its 12 months), species new in
    ``year`` (a function so that ``warm.default_views`` computes exactly what the page shows)."""
    groups = q(db, data.per_group, f)
    years = q(db, data.per_year, f).merge(data.monthly_by_year(q(db, data.per_month, f)), on="year", how="left")
    return groups, years, q(db, data.new_species, year, f)


def new_species_texts(f: data.Filters, year: int) -> tuple[str, str, str]:
    """(heading, message when none, phrase "en 2026" / "du … au …") of the new-species
    section: the period filter when set, else the current year (as ``data.new_species``)."""
    if f.date_from is None and f.date_to is None:
        return (f"Nouvelles espèces pour le territoire en {year}",
                f"Aucune espèce observée pour la première fois en {year}.", f"en {year}")
    a = f.date_from.strftime("%d/%m/%Y") if f.date_from else "…"
    b = f.date_to.strftime("%d/%m/%Y") if f.date_to else "…"
    return (f"Nouvelles espèces pour le territoire du {a} au {b}",
            f"Aucune espèce observée pour la première fois du {a} au {b}.", f"du {a} au {b}")


def figures(db: Db, f: data.Filters = data.NO_FILTERS) -> dict[str, Any]:
    """Key figures of the filtered observations, with the communes covered."""
    return {**q(db, data.key_figures, f), **data.coverage(q(db, data.area_measures, f, "commune"))}


def q(db: Db, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``data.<fn>`` on the database, cached on (file identity, arguments)."""
    return _cached(fn.__name__, db, args, tuple(sorted(kwargs.items())))


# ---------------------------------------------------------------------------
# Page furniture
# ---------------------------------------------------------------------------

def header(db: Db, title: str, f: data.Filters | None = None, quality: bool = True) -> dict[str, Any]:
    """Demo banner, title, the empty-database message (stops the page when empty), and the
    quality grades counted (``f``'s, else the sidebar's: said on every page, so that a
    figure is never read without knowing whether casual observations count)."""
    info = q(db, data.db_info)
    if info["demo"]:
        st.warning(f"**{DEMO_BANNER}** — ces observations et ces communes sont générées, "
                   "elles ne décrivent aucun territoire réel.", icon=":material/science:")
    st.title(title)
    if not info["communes"]:
        # a territory chosen by `biodiv init` whose communes are not imported yet: no map,
        # no commune figures (and nothing is flagged in the territory yet)
        st.info("Les communes du territoire ne sont pas encore chargées : lancez `biodiv areas fetch` "
                "(ou `biodiv update`, qui les charge puis rattache les observations), "
                "puis rechargez la page.", icon=":material/location_city:")
        st.stop()
    if info["observations_in_territory"] == 0:
        if info["observations_total"] == 0:
            st.info("La base ne contient encore aucune observation : lancez `biodiv update` "
                    "(ou `biodiv demo` pour une démonstration).")
        else:
            st.info("Aucune observation n'est encore rattachée au territoire : "
                    "lancez `biodiv update` pour terminer le rattachement aux communes.")
        st.stop()
    fx = f or current_filters()
    if fx.public:
        # sensitive species (biodiv.sensitivity): what is blurred or withheld, and the missing referential
        notice = q(db, data.sensitivity_info, fx.sensitivity_default)["notice"]
        if notice:
            st.info(notice, icon=":material/visibility_off:")
    if quality:
        st.caption(quality_text(fx.quality) + QUALITY_NOTE_FR)
    return info


# Why no ``help=`` tooltip anywhere in the dashboard: Streamlit labels its "?" button
# "Help" / "Help for …" (aria-label, English, read aloud by screen readers) with no option to
# change it. Explanations are written as visible French text instead.
QUALITY_NOTE_FR = " · comme les requêtes SQL nommées ; le filtre « Qualité » change ce choix"
QUALITY_HELP_FR = ("Par défaut, comme les requêtes SQL nommées (`biodiv query`) : observations de qualité "
                   "« recherche » et « à identifier » ; les occasionnelles (sans photo, captives…) sont "
                   "écartées.")


def last_update_text(info: dict[str, Any]) -> str:
    when = info.get("last_update")
    if when is None:
        return "Dernière mise à jour : inconnue"
    return f"Dernière mise à jour : {local_time(when)}"   # stored in UTC, read in French local time


def refresh_state(db: Db) -> dict[str, Any]:
    """When the data was last refreshed from iNaturalist (the published file's harvest runs,
    and the no-change runs kept beside it in ``<db>.runs.jsonl``) and the last failure, if
    it is more recent than the last success."""
    runs = dict(q(db, data.refresh_runs))
    times = [pd.Timestamp(runs["ok_at"])] if runs["ok_at"] is not None else []
    for entry in read_pending(Path(db.path)):
        if entry.get("status", "ok") == "ok" and entry.get("finished_at"):
            try:
                times.append(pd.Timestamp(entry["finished_at"]))
            except ValueError:
                pass
    times = [t.tz_localize("UTC") if t.tzinfo is None else t for t in times]
    runs["ok_at"] = max(times) if times else None
    live = read_live_status(Path(db.path)) or {}
    if live.get("ok_at"):
        t = pd.Timestamp(live["ok_at"])
        runs["ok_at"] = max(x for x in (runs["ok_at"], t) if x is not None)
    if live.get("status") == "failed" and live.get("attempt_at"):
        t = pd.Timestamp(live["attempt_at"])
        if runs["failed_at"] is None or t > pd.Timestamp(runs["failed_at"]):
            runs["failed_at"], runs["failed_message"] = t, live.get("message")
            runs["failed_kinds"], runs["failed_status"] = list(live.get("kinds") or []), "failed"
    if runs["failed_at"] is not None:
        failed = pd.Timestamp(runs["failed_at"])
        failed = failed.tz_localize("UTC") if failed.tzinfo is None else failed
        runs["failed_at"] = failed if runs["ok_at"] is None or failed > runs["ok_at"] else None
    return runs


def local_time(t: Any) -> str:
    """A stored instant as French local time: 01/12/2026 à 10:05 (Europe/Paris)."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("Europe/Paris").strftime("%d/%m/%Y à %H:%M")


def refresh_text(db: Db, short: bool = False) -> tuple[str, str | None]:
    """(the line saying when data came from iNaturalist, a failure line or None); ``short``:
    the workshop screen's one-line form, which fits beside the rest of its footer."""
    r = refresh_state(db)
    if short:
        ok = (f"données du {local_time(r['ok_at'])}" if r["ok_at"] is not None else "données jamais actualisées")
        failed = None
        if r["failed_at"] is not None:
            failed = (f"actualisation échouée le {local_time(r['failed_at'])} : "
                      + failure_fr(r.get("failed_kinds"), r.get("failed_status")))
        return ok, failed
    ok = (f"Données iNaturalist actualisées le {local_time(r['ok_at'])}" if r["ok_at"] is not None
          else "Données iNaturalist : aucune actualisation enregistrée")
    if r.get("quarantined"):
        n = r["quarantined"]
        ok += (f" ; {n} observation{'s' if n > 1 else ''} reçue{'s' if n > 1 else ''} d'iNaturalist mise"
               f"{'s' if n > 1 else ''} de côté (quarantaine, voir « biodiv status »), redemandée"
               f"{'s' if n > 1 else ''} à chaque actualisation")
    failed = None
    if r["failed_at"] is not None:
        # French from the catalogue (labels.FAILURES_FR): never the update's English message
        failed = (f"La dernière actualisation a échoué le {local_time(r['failed_at'])} : "
                  + failure_fr(r.get("failed_kinds"), r.get("failed_status")))
    return ok, failed


def metrics(items: list[tuple[str, str, str | None]], big: bool = False) -> None:
    """A row of key figures: (label, value, note); the notes are one caption under the row
    (visible text, not Streamlit's "Help" tooltips: see QUALITY_NOTE_FR)."""
    if big:
        cells = "".join(
            f'<div class="biodiv-big"><div class="v">{v}</div><div class="l">{label}</div></div>'
            for label, v, _ in items
        )
        st.markdown(
            "<style>.biodiv-row{display:flex;gap:2rem;flex-wrap:wrap}"
            ".biodiv-big .v{font-size:4.5rem;font-weight:700;line-height:1.1}"
            ".biodiv-big .l{font-size:1.6rem;opacity:.8}</style>"
            f'<div class="biodiv-row">{cells}</div>',
            unsafe_allow_html=True,
        )
        return
    cols = st.columns(len(items))
    for col, (label, v, _) in zip(cols, items):
        col.metric(label, v)
    notes = [f"{label} : {help_[:1].lower()}{help_[1:]}" for label, _, help_ in items if help_]
    if notes:
        st.caption(" · ".join(notes))


def key_figure_items(k: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    share = "—" if k["research_share"] is None else f"{k['research_share'] * 100:.0f} %"
    return [
        ("Observations", format_int(k["observations"]), None),
        ("Espèces", format_int(k["species"]), "Taxons de rang espèce ou inférieur, comptés par espèce"),
        ("Observateurs", format_int(k["observers"]), None),
        ("Part « recherche »", share, "Observations de qualité « recherche » (identification validée)"),
        ("Communes couvertes", f"{k['communes_covered']} / {k['communes_total']}", None),
    ]


def bars(df: pd.DataFrame, label: str, label_title: str, columns: dict[str, str],
         extra: dict[str, Any] | None = None, height: int | str = "auto") -> None:
    """A table whose numeric columns are drawn as horizontal bars (light: no chart library)."""
    config: dict[str, Any] = {label: st.column_config.TextColumn(label_title)}
    for col, title in columns.items():
        top = float(df[col].max()) if len(df) else 1.0
        config[col] = st.column_config.ProgressColumn(title, format="%d", min_value=0,
                                                      max_value=max(top, 1.0))
    cols = [label, *columns]
    for col, cfg in (extra or {}).items():
        config[col] = cfg
        cols.append(col)
    st.dataframe(df[cols], column_config=config, hide_index=True, width="stretch", height=height)


LEAFLET_MISSING_FR = ("La carte ne peut pas s'afficher : les fichiers de cartographie (Leaflet) ne sont "
                      "pas installés sur ce poste. Lancez `biodiv dashboard --install-assets` "
                      "(une seule fois, avec accès au registre npm), puis rechargez la page.")


def show_map(m, key: str, height: int = 560, clicks: bool = False) -> dict[str, Any] | None:
    """Render a folium map; with ``clicks``, return the properties of the feature clicked
    last (a commune, a site, a grid cell) else None. Pan and zoom never rerun the page.

    Without the Leaflet files the map would be an empty frame: a French message instead."""
    from streamlit_folium import st_folium

    from biodiv.dashboard.server.assets import assets_installed

    if not assets_installed():
        st.warning(LEAFLET_MISSING_FR, icon=":material/map:")
        return None
    # render=False: st_folium renders the map itself either way; its extra render of the
    # whole HTML page is thrown away (~20-35 ms per run). Same output: tests/test_dashboard_maps.py
    out = st_folium(m, key=key, height=height, use_container_width=True, render=False,
                    returned_objects=["last_active_drawing"] if clicks else [])
    feature = (out or {}).get("last_active_drawing") if clicks else None
    return (feature or {}).get("properties") or None


# ---------------------------------------------------------------------------
# Navigation between sheets
# ---------------------------------------------------------------------------

# subject kind -> (url path of its sheet, query parameter holding its code)
SHEETS = {"commune": ("fiche-commune", "commune"), "site": ("fiche-site", "site"),
          "taxon": ("fiche-espece", "taxon")}
SHEET_PATHS = frozenset(url for url, _ in SHEETS.values())
_PAGES: dict[str, Any] = {}


def register_pages(pages: list[Any]) -> None:
    """Remember the app's ``st.Page`` objects by url path (called by app.main each run)."""
    _PAGES.update({p.url_path: p for p in pages})


def sheet_url(kind: str, code: Any) -> str:
    """Relative address of a subject's sheet (``fiche-commune?commune=34114``)."""
    url, param = SHEETS[kind]
    return f"{url}?{param}={code}"


def open_sheet(kind: str, code: Any) -> None:
    """Go to the sheet of a commune / site / taxon in this session (filters kept), its code
    in the address (bookmarkable; the browser's back button returns here)."""
    url, param = SHEETS[kind]
    st.switch_page(_PAGES[url], query_params={param: str(code)})


def show_subject(kind: str, code: Any) -> None:
    """Make the address say this sheet's subject and nothing else (``?commune=34114``).

    Why replace rather than add: the query parameters outlive a page change made by the
    browser's back button, so adding ``commune`` would leave a previous sheet's ``taxon``
    in the address of the commune's sheet."""
    param = SHEETS[kind][1]
    if dict(st.query_params) != {param: str(code)}:
        st.query_params.from_dict({param: str(code)})


def subject(kind: str) -> str | None:
    """The code given in the address for this sheet (``?commune=…``), if any."""
    value = st.query_params.get(SHEETS[kind][1])
    return str(value) if value else None


def _picked_row(event: Any) -> int | None:
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    return int(rows[0]) if rows else None


SPECIES_TABLE_COLUMNS = {  # the species tables' columns (data name -> French title)
    "common_name_fr": "Nom français", "sci_name": "Nom scientifique", "group": "Groupe",
    "observations": "Observations", "last_year": "Dernière année", "last_observed": "Dernière observation",
    "status": "Statut", "sensitivity": "Sensibilité (SINP)",
}


def _french_table(df: pd.DataFrame, titles: dict[str, str], key: str, select: bool = True,
                  formats: dict[str, Any] | None = None) -> Any:
    """``df``'s columns ``titles`` under their French titles (also in the table's CSV
    download), dates as dd/mm/yyyy, optionally one row selectable."""
    cols = [c for c in titles if c in df.columns]
    out = df[cols].rename(columns=titles)
    config: dict[str, Any] = {}
    for c in cols:
        if pd.api.types.is_datetime64_any_dtype(df[c]) or (len(df) and isinstance(df[c].iloc[0], date)):
            config[titles[c]] = st.column_config.DateColumn(titles[c], format="DD/MM/YYYY")
    config.update({titles[c]: v for c, v in (formats or {}).items() if c in cols})
    kwargs = dict(on_select="rerun", selection_mode="single-row") if select else {}
    return st.dataframe(out, column_config=config, hide_index=True, width="stretch", key=key, **kwargs)


def species_table(df: pd.DataFrame, key: str) -> None:
    """Species rows; picking a row (the box at its left) opens its Fiche espèce."""
    event = _french_table(df, SPECIES_TABLE_COLUMNS, key,
                          formats={"last_year": st.column_config.NumberColumn("Dernière année", format="%d")})
    st.caption("Cochez la case au début d'une ligne pour ouvrir la fiche de l'espèce.")
    row = _picked_row(event)
    if row is not None and row < len(df):
        open_sheet("taxon", int(df["species_key"].iloc[row]))


AREA_TABLE_COLUMNS = {"type": "Type", "name": "Nom", "code": "Code", "observations": "Observations",
                      "last_observed": "Dernière observation"}


def areas_table(df: pd.DataFrame, key: str) -> None:
    """Areas (communes, sites) with counts; picking a row opens the area's sheet."""
    from biodiv.dashboard.labels import AREA_TYPES_FR

    shown = df.assign(type=[AREA_TYPES_FR.get(t, t) for t in df["type"]])
    event = _french_table(shown, AREA_TABLE_COLUMNS, key)
    st.caption("Cochez la case au début d'une ligne pour ouvrir la fiche de la commune ou du site.")
    row = _picked_row(event)
    if row is not None and row < len(df):
        kind = "commune" if df["type"].iloc[row] == "commune" else "site"
        open_sheet(kind, df["code"].iloc[row])


OBSERVATION_TABLE_COLUMNS = {"observed_on": "Date", "common_name_fr": "Nom français", "sci_name": "Nom scientifique",
                             "quality_grade": "Qualité", "user_login": "Observateur", "uri": "Lien",
                             "sensitivity_level": "Sensibilité (niveau SINP)"}


def observations_table(df: pd.DataFrame, key: str) -> None:
    """Observations (date, names, quality, observer unless public mode, link)."""
    out = data.mask_observers(df, config().dashboard.public_mode)
    out = out.assign(quality_grade=[QUALITY_FR.get(g, g or "") for g in out["quality_grade"]])
    _french_table(out, OBSERVATION_TABLE_COLUMNS, key, select=False,
                  formats={"uri": st.column_config.LinkColumn("Lien", display_text="iNaturalist")})


# ---------------------------------------------------------------------------
# Filters (sidebar, shared by the pages through st.session_state)
# ---------------------------------------------------------------------------

_FILTER_DEFAULTS: dict[str, Any] = {
    "period": None, "groups": [], "species": [], "quality": list(data.DEFAULT_GRADES), "communes": [], "sites": [],
    "status_only": False, "certainty": [],
}


def _restore(name: str) -> str:
    """Widget key for filter ``name``, restored from its stored value.

    Streamlit forgets a widget's state on a run where it is not drawn (the workshop page
    has no sidebar), so the value lives under ``f_<name>`` and is copied back.
    """
    store, widget = f"f_{name}", f"w_{name}"
    if store not in st.session_state:
        default = _FILTER_DEFAULTS[name]
        st.session_state[store] = list(default) if isinstance(default, list) else default
    if widget not in st.session_state and st.session_state[store] is not None:
        st.session_state[widget] = st.session_state[store]
    return widget


def _save(name: str, value: Any) -> None:
    st.session_state[f"f_{name}"] = value


def reset_filters() -> None:
    for name in _FILTER_DEFAULTS:
        st.session_state.pop(f"f_{name}", None)
        st.session_state.pop(f"w_{name}", None)


def filter_options(db: Db) -> dict[str, Any]:
    """What the sidebar filters offer (also computed ahead by ``warm.default_views``)."""
    return {
        "dates": q(db, data.date_range), "groups": q(db, data.group_options, *public_args()),
        "species": q(db, data.species_options, *public_args()), "communes": q(db, data.area_list, "commune"),
        "sites": q(db, data.area_list, ("n2000_zsc", "n2000_zps")),
    }


class _SessionValues:
    """Stands in for ``st.sidebar`` in :func:`sidebar_filters`: each widget call returns what
    the widget holds in the session (what it would return) and draws nothing.

    Why: the app computes the filters with this before the page runs and draws the real
    widgets after it, so the page's content (the map first) reaches the browser before the
    ten sidebar widgets, whose front-end code Streamlit loads on demand."""

    def header(self, *args: Any, **kwargs: Any) -> None:
        return None

    button = caption = header

    def slider(self, *args: Any, key: str, **kwargs: Any) -> Any:
        return st.session_state.get(key)

    def multiselect(self, *args: Any, key: str, **kwargs: Any) -> list:
        return list(st.session_state.get(key) or [])

    def checkbox(self, *args: Any, key: str, **kwargs: Any) -> bool:
        return bool(st.session_state.get(key, False))


SESSION_VALUES = _SessionValues()


def _multiselect(sb: Any, *args: Any, **kwargs: Any) -> list:
    """A multiselect without Streamlit's English "Select all" entry (``select_all=False``)."""
    return sb.multiselect(*args, select_all=False, **kwargs)


def sidebar_filters(db: Db, sb: Any = None, page: str = "") -> data.Filters:
    """Draw the filters in the sidebar (``sb``; ``SESSION_VALUES``: only read them) and return
    them (also kept in session state). On a sheet, the filter of its own kind of subject is
    left out (the sheet's selector chooses the commune or the site: one selector, not two)."""
    sb = st.sidebar if sb is None else sb
    skip = {"fiche-commune": "communes", "fiche-site": "sites"}.get(page)
    sb.header("Filtres")
    options = filter_options(db)
    lo, hi = options["dates"]
    period = None
    if lo and hi:
        key = _restore("period")
        top = max(hi, date.today())
        kept = st.session_state.get(key)
        # a period kept from an older database may fall outside the new date bounds
        if not (isinstance(kept, (tuple, list)) and all(lo <= d <= top for d in kept)):
            st.session_state[key] = (lo, hi)
        # a slider, not st.date_input: Streamlit's calendar is in English with weeks starting
        # on Sunday, and has no locale option; the slider shows only dd/mm/yyyy dates
        value = sb.slider("Période", min_value=lo, max_value=top, key=key, format="DD/MM/YYYY")
        _save("period", value)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            period = tuple(value)
    groups = options["groups"]
    group_labels = {g: (i or "") for g, i in zip(groups["group"], groups["iconic"])}
    chosen_groups = _multiselect(sb, "Groupe taxonomique", list(group_labels), key=_restore("groups"),
                                   placeholder="Tous les groupes")
    _save("groups", chosen_groups)
    opts = options["species"]
    labels = dict(zip(opts["species_key"].astype(int), opts["label"]))
    chosen_species = _multiselect(sb, 
        "Espèce (nom français ou scientifique)", list(labels), key=_restore("species"),
        format_func=lambda x: labels.get(x, str(x)), placeholder="Toutes les espèces",
    )
    _save("species", chosen_species)
    quality = _multiselect(sb, "Qualité", list(QUALITY_FR), key=_restore("quality"),
                           format_func=QUALITY_FR.get, placeholder="Toutes (y compris occasionnelles)")
    sb.caption(QUALITY_HELP_FR)
    _save("quality", quality)
    communes = options["communes"]
    cnames = dict(zip(communes["area_id"].astype(int), communes["name"]))
    if skip == "communes":
        chosen_communes = []
    else:
        chosen_communes = _multiselect(sb, "Commune", list(cnames), key=_restore("communes"),
                                         format_func=lambda x: cnames.get(x, str(x)),
                                         placeholder="Toutes les communes")
        _save("communes", chosen_communes)
    sites = options["sites"]
    snames = {int(a): f"{n} ({c})" for a, n, c in zip(sites["area_id"], sites["name"], sites["code"])}
    if skip == "sites":
        chosen_sites = []
    else:
        chosen_sites = _multiselect(sb, "Site Natura 2000", list(snames), key=_restore("sites"),
                                      format_func=lambda x: snames.get(x, str(x)),
                                      placeholder="Tous" if snames else "Aucun site chargé")
        _save("sites", chosen_sites)
    status_only = sb.checkbox("Espèces protégées ou menacées uniquement", key=_restore("status_only"))
    _save("status_only", status_only)
    certainty = _multiselect(sb, "Certitude de localisation", list(CERTAINTY_FR), key=_restore("certainty"),
                               format_func=CERTAINTY_FR.get, placeholder="Toutes")
    _save("certainty", certainty)
    sb.button("Réinitialiser les filtres", on_click=reset_filters)
    full_period = period is None or (period[0] <= lo and period[1] >= hi)
    f = data.Filters(
        date_from=None if full_period else period[0],
        date_to=None if full_period else period[1],
        groups=tuple(group_labels[g] for g in chosen_groups if g in group_labels),
        species=tuple(int(s) for s in chosen_species),
        quality=tuple(g for g in QUALITY_FR if g in quality),   # one order: one cache key
        communes=tuple(int(c) for c in chosen_communes),
        sites=tuple(int(s) for s in chosen_sites),
        status_only=bool(status_only),
        certainty=tuple(certainty),
        public=public_args()[0], sensitivity_default=public_args()[1],
    )
    st.session_state["filters"] = f
    return f


def current_filters() -> data.Filters:
    return st.session_state.get("filters", base_filters())


def public_args() -> tuple[bool, int]:
    """(public mode, the cautious default level): how this dashboard blurs sensitive species."""
    cfg = config()
    return bool(cfg.dashboard.public_mode), int(cfg.sensitivity.default_level)


def base_filters(public: bool | None = None) -> data.Filters:
    """No filter but the default quality, public as configured (or as ``public`` says: the
    Mode atelier is always public)."""
    mode, default = public_args()
    return data.NO_FILTERS.with_(public=mode if public is None else public, sensitivity_default=default)


def filters_summary(f: data.Filters) -> str:
    """One French line saying which filters are active (empty when none; the quality
    grades have their own line on every page: see :func:`header`)."""
    parts = []
    if f.date_from or f.date_to:
        a = f.date_from.strftime("%d/%m/%Y") if f.date_from else "…"
        b = f.date_to.strftime("%d/%m/%Y") if f.date_to else "…"
        parts.append(f"du {a} au {b}")
    if f.groups:
        parts.append(", ".join(group_fr(g) if g else UNKNOWN_GROUP_FR for g in f.groups))
    if f.species:
        parts.append(plural(len(f.species), "espèce"))
    if f.communes:
        parts.append(plural(len(f.communes), "commune"))
    if f.sites:
        parts.append(plural(len(f.sites), "site") + " Natura 2000")
    if f.status_only:
        parts.append("protégées ou menacées")
    if f.certainty:
        parts.append(", ".join(CERTAINTY_FR[x] for x in f.certainty))
    return ("Filtres actifs : " + " · ".join(parts)) if parts else ""


# ---------------------------------------------------------------------------
# Maps
# ---------------------------------------------------------------------------

# Each point with its popup weighs ~0.6 kB in the page: above this many, a map would near
# 3 MB whatever `dashboard.point_limit` says.
MAX_POINTS = 4000


def point_limit() -> int:
    """`dashboard.point_limit`, capped at MAX_POINTS (payload ≤ 3 MB per view)."""
    return max(0, min(int(config().dashboard.point_limit), MAX_POINTS))


N2000_LAYERS = (
    ("n2000_zsc", "Natura 2000 ZSC (directive Habitats)", "ZSC"),
    ("n2000_zps", "Natura 2000 ZPS (directive Oiseaux)", "ZPS"),
)


@st.cache_data(show_spinner=False, max_entries=8)
def _territory_cells(db: Db, size_m: int) -> pd.DataFrame:
    from biodiv.dashboard import effort

    return effort.territory_cells(q(db, data.area_features, "commune"), size_m)


def territory_cells(db: Db, size_m: int) -> pd.DataFrame:
    """The national grid's cells meeting the territory (cached per file and size)."""
    return _territory_cells(db, size_m)


def parse_layer(layer: str) -> tuple[str, str | int]:
    """("communes", measure) or ("grid", size in metres) from a layer key (``LAYERS_FR``);
    a bare measure name ("observations") means the communes coloured by it."""
    kind, _, value = layer.partition(":")
    if kind == "grid":
        return "grid", int(value)
    if kind == "communes":
        return "communes", value
    return "communes", layer


def observation_map(db: Db, f: data.Filters, measure: str = "observations",
                    area_id: int | None = None, points: bool = True, collapsed: bool = True,
                    font_px: int = 12, names_px: int | None = None, legend_inside: bool = True):
    """The map of a page: the communes as an offline base, **one** thematic layer (the
    communes coloured by a measure, or the national grid: ``measure`` is a key of
    ``LAYERS_FR`` or a bare commune measure), Natura 2000 outlines, commune names, the
    observations as points when few (``points``), and one legend inside the map (or, with
    ``legend_inside=False``, in ``notes["legend"]``/``notes["outlines"]`` for the page to show
    beside the map: Mode atelier, where a legend over the map hid a quarter of the territory).

    Returns (map, notes) where notes holds the layer, counts and legend for the caption.
    """
    from biodiv.dashboard import maps
    from biodiv.dashboard.labels import MEASURES_FR

    cfg = config()
    bounds = q(db, data.territory_bounds)
    if area_id is not None:
        info = q(db, data.area_info, area_id)
        if info and info["xmin"] is not None:
            bounds = (info["xmin"], info["ymin"], info["xmax"], info["ymax"])
        f = f.with_(area=area_id)
    kind, value = parse_layer(measure)
    m = maps.new_map(bounds, cfg.dashboard.basemap)
    communes = q(db, data.area_features, "commune")
    maps.add_base(m, communes)
    notes: dict[str, Any] = {"mode": None, "layer": kind}
    if kind == "grid":
        grid = q(db, data.grid_counts, f, value)
        title = f"Observations par maille de {value // 1000} km"
        notes["legend"] = maps.add_grid(m, grid, value)
        notes.update(cell=value, cells=len(grid), unplaced=grid.attrs.get("unplaced", 0))
    else:
        title = MEASURES_FR.get(value, value)
        notes["legend"] = maps.add_choropleth(m, communes, q(db, data.area_measures, f, "commune"), value)
    outlines = []
    for area_type, name, short in N2000_LAYERS:
        colour = maps.ZSC_COLOUR if short == "ZSC" else maps.ZPS_COLOUR
        if maps.add_outlines(m, q(db, data.area_features, area_type), name, colour):
            outlines.append((colour, name))
    if area_id is not None:
        info = q(db, data.area_info, area_id)
        maps.add_outlines(m, q(db, data.area_features, info["type"], area_id=area_id),
                          f"Limite : {info['name']}", "#000000", kind=None)
        outlines.append(("#000000", f"Limite : {info['name']}"))
    maps.add_names(m, communes, font_px=names_px or font_px)
    k = q(db, data.key_figures, f)
    notes.update(drawable=k["drawable"], obscured=k["obscured"], sensitive=k["sensitive"] if f.public else 0)
    limit = point_limit()
    if kind == "communes" and points and 0 < k["drawable"] <= limit:
        maps.add_points(m, q(db, data.map_points, f, limit), public_mode=cfg.dashboard.public_mode)
        notes["mode"] = "points"
        outlines.append((maps.POINT_COLOUR, "Observation (point)"))
    elif kind == "grid":
        notes["mode"] = "grid"
    notes["title"] = title
    notes["outlines"] = outlines
    if legend_inside:
        m.add_child(maps.Legend(title, notes["legend"], outlines, font_px=font_px))
    maps.finish(m)
    return m, notes


def map_caption(notes: dict[str, Any]) -> None:
    if notes["mode"] == "points":
        st.caption(f"{plural(notes['drawable'], 'observation affichée', 'observations affichées')} en points "
                   "(cliquez sur un point pour le détail).")
    elif notes["mode"] == "grid":
        km = notes["cell"] // 1000
        text = (f"{plural(notes['cells'], 'maille')} de {km} km de la grille nationale (Lambert-93, "
                "codes INPN) : cliquez sur une maille pour la liste de ses espèces.")
        if notes.get("unplaced"):
            text += (f" {plural(notes['unplaced'], 'observation')} hors maille : localisation floutée, "
                     f"absente ou moins précise que {km} km.")
        st.caption(text)
    if notes.get("sensitive"):
        st.caption(f"{plural(notes['sensitive'], 'observation')} d'espèce sensible : localisation floutée "
                   "selon son niveau de sensibilité (commune, maille de 10 km ou territoire), jamais en point.")
    n = notes.get("obscured") or 0
    if n and notes["mode"] != "grid":
        one = n < 2
        st.caption(f"{plural(n, 'observation')} à localisation floutée par iNaturalist : "
                   + ("non placée sur la carte, elle compte dans les chiffres et dans les communes qui "
                      "contiennent toute sa zone de floutage." if one else
                      "non placées sur la carte, elles comptent dans les chiffres et dans les communes qui "
                      "contiennent toute leur zone de floutage."))
