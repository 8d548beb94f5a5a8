"""Exports for other tools, one module per format over one shared selection
(:mod:`~biodiv.analysis.exports.select`): QGIS (:mod:`.gpkg`), web maps (:mod:`.geojson`),
scripts and spreadsheets (:mod:`.csv`), data science (:mod:`.parquet`), biodiversity
networks (:mod:`.dwca`, Darwin Core Archive for GBIF, its metadata in :mod:`.eml`) and the French SINP
(:mod:`.geonature`, GeoNature's synthesis import CSV).

Every file is written under a temporary name and renamed when complete: an error never
leaves a half-written export, and never touches an existing file at the target path.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from biodiv.analysis.exports.select import (
    ExportError, ExportFilter, ExportResult, QUALITIES, select_observations, territory_info,
)
from biodiv.errors import BiodivError

FORMATS = ("gpkg", "geojson", "csv", "parquet", "dwca", "geonature")

__all__ = ["ExportError", "ExportFilter", "ExportResult", "FORMATS", "QUALITIES", "export",
           "select_observations", "territory_info"]


PROFILES = (None, "gbif")


def gbif_profile(obs):
    """The records GBIF takes from an iNaturalist export (as iNaturalist's own GBIF dataset):
    research grade, licensed CC0, CC-BY or CC-BY-NC. Returns (kept, what was left out)."""
    from biodiv.analysis.exports.dwca import GBIF_LICENSES

    not_research = obs["quality_grade"].fillna("") != "research"
    licence = obs["license_code"].fillna("").astype(str).str.lower()
    closed = ~licence.isin(list(GBIF_LICENSES))
    notes = []
    if not_research.any():
        notes.append(f"left out {int(not_research.sum())} record(s) not research grade")
    if (closed & ~not_research).any():
        notes.append(f"left out {int((closed & ~not_research).sum())} research-grade record(s) without "
                     "a licence GBIF accepts (CC0, CC-BY, CC-BY-NC)")
    return obs[~not_research & ~closed], notes


def _temp_path(out: Path) -> Path:
    return out.with_name(f".{out.stem}.part{out.suffix}")


def export(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    out: Path | str,
    f: ExportFilter | None = None,
    public_mode: bool = False,
    csv_dialect: str = "standard",
    dataset: dict | None = None,
    profile: str | None = None,
    sensitivity_default: int = 2,
    free_text: bool = False,
    removed_since=None,
) -> ExportResult:
    """Write the filtered observations (and area layers for GeoPackage) to ``out``.

    ``dataset``: the ``[exports]`` configuration (contact for the Darwin Core EML, GeoNature
    dataset and acquisition framework names and UUIDs). ``profile="gbif"`` (Darwin Core
    only) keeps what GBIF publishes: research-grade records under CC0, CC-BY or CC-BY-NC;
    what it leaves out is counted in the notes.

    Sensitive species (biodiv.sensitivity): ``public_mode`` blurs them to their SINP level
    (``sensitivity_default``: the level of protected and threatened taxa while no referential
    is imported; 0 = none) and leaves free text out unless ``free_text``; the notes say so.

    GeoNature: the observations removed upstream (since ``removed_since``, a date; else all)
    are listed beside the export (:func:`deletions_path`), private exports only."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    from biodiv.analysis.exports import csv as csv_format

    if csv_dialect not in csv_format.DIALECTS:
        raise ExportError(f"unknown CSV dialect {csv_dialect!r} (choose from {', '.join(csv_format.DIALECTS)})")
    if profile not in PROFILES:
        raise ExportError(f"unknown profile {profile!r} (choose from {', '.join(p for p in PROFILES if p)})")
    if profile and fmt != "dwca":
        raise ExportError(f"--profile {profile} applies to --format dwca only")
    if removed_since and fmt != "geonature":
        raise ExportError("--removed-since applies to --format geonature only")
    f = f or ExportFilter()
    out = Path(out)
    if not out.parent.exists():
        raise ExportError(f"folder {out.parent} does not exist")
    obs = select_observations(con, f, public_mode, sensitivity_default, free_text)
    sensitivity_notes = list(obs.attrs.get("notes", []))
    if obs.empty:
        raise ExportError(f"no observation matches these filters ({f.describe()}): nothing written")
    left_out: list[str] = []
    if profile == "gbif":
        obs, left_out = gbif_profile(obs)
        if obs.empty:
            raise ExportError(f"no observation fits GBIF ({'; '.join(left_out)}): nothing written")
    result = ExportResult(out, fmt, {"observations": len(obs)})
    result.notes.extend(sensitivity_notes)
    result.notes.extend(left_out)
    tmp = _temp_path(out)
    tmp.unlink(missing_ok=True)
    try:
        if fmt == "csv":
            csv_format.write(obs, tmp, csv_dialect)
        elif fmt == "dwca":
            from biodiv.analysis.exports.dwca import write_dwca

            result.notes.extend(write_dwca(obs, tmp, territory_info(con), f.describe(), public_mode,
                                           contact=dataset, profile=profile))
        elif fmt == "geonature":
            _geonature(con, obs, out, tmp, dataset or {}, public_mode, result, removed_since)
        elif fmt == "parquet":
            from biodiv.analysis.exports import parquet

            parquet.write(obs, tmp)
        elif fmt == "geojson":
            from biodiv.analysis.exports import geojson

            geojson.write(obs, tmp, out.stem)
        else:
            from biodiv.analysis.exports import gpkg

            result.counts.update(gpkg.write(con, obs, tmp, f))
        os.replace(tmp, out)
    except BiodivError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"writing {out} failed: {first}") from None
    return result


def unmatched_path(out: Path) -> Path:
    """Where the GeoNature export lists the taxa it left out (beside the export)."""
    return out.with_name(f"{out.stem}.unmatched-taxa.csv")


def deletions_path(out: Path) -> Path:
    """Where the GeoNature export lists the observations removed upstream (beside the export)."""
    return out.with_name(f"{out.stem}.deleted.csv")


def _geonature(con, obs, out: Path, tmp: Path, dataset: dict, public_mode: bool, result: ExportResult,
               removed_since=None) -> None:
    from biodiv.analysis.exports import geonature

    frame, unmatched, notes = geonature.write(obs, tmp, dataset, public_mode)
    if frame.empty:
        raise ExportError("no record can go to GeoNature: " + "; ".join(notes[:2]))
    result.counts["observations"] = len(frame)
    result.counts["left out"] = len(obs) - len(frame)
    result.notes.extend(notes)
    side = unmatched_path(out)
    if len(unmatched):
        part = _temp_path(side)
        unmatched.to_csv(part, index=False, sep=";")
        os.replace(part, side)
        result.notes.append(f"{len(unmatched)} taxa without a TAXREF link listed in {side}")
    gone = deletions_path(out)
    if public_mode:
        # the list names iNaturalist records, sensitive ones included: private exports only
        result.notes.append("no list of removed observations in a public export (run it --private)")
        return
    removed = geonature.deletions(con, removed_since)
    part = _temp_path(gone)
    removed.to_csv(part, index=False, sep=";")
    os.replace(part, gone)
    result.counts["removed upstream"] = len(removed)
    since = f" since {removed_since}" if removed_since else ""
    result.notes.append(f"{len(removed)} observation(s) removed upstream{since} listed in {gone} "
                        "(delete them from GeoNature too)")
