"""Exports for other tools, one module per format over one shared selection
(:mod:`~biodiv.analysis.exports.select`): QGIS (:mod:`.gpkg`), web maps (:mod:`.geojson`),
scripts and spreadsheets (:mod:`.csv`), data science (:mod:`.parquet`), biodiversity
networks (:mod:`.dwca`, Darwin Core Archive for GBIF) and the French SINP
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

FORMATS = ("gpkg", "geojson", "csv", "parquet", "dwca")

__all__ = ["ExportError", "ExportFilter", "ExportResult", "FORMATS", "QUALITIES", "export",
           "select_observations", "territory_info"]


def _temp_path(out: Path) -> Path:
    return out.with_name(f".{out.stem}.part{out.suffix}")


def export(
    con: duckdb.DuckDBPyConnection,
    fmt: str,
    out: Path | str,
    f: ExportFilter | None = None,
    public_mode: bool = False,
    csv_dialect: str = "standard",
) -> ExportResult:
    """Write the filtered observations (and area layers for GeoPackage) to ``out``."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    from biodiv.analysis.exports import csv as csv_format

    if csv_dialect not in csv_format.DIALECTS:
        raise ExportError(f"unknown CSV dialect {csv_dialect!r} (choose from {', '.join(csv_format.DIALECTS)})")
    f = f or ExportFilter()
    out = Path(out)
    if not out.parent.exists():
        raise ExportError(f"folder {out.parent} does not exist")
    obs = select_observations(con, f, public_mode)
    if obs.empty:
        raise ExportError(f"no observation matches these filters ({f.describe()}): nothing written")
    result = ExportResult(out, fmt, {"observations": len(obs)})
    tmp = _temp_path(out)
    tmp.unlink(missing_ok=True)
    try:
        if fmt == "csv":
            csv_format.write(obs, tmp, csv_dialect)
        elif fmt == "dwca":
            from biodiv.analysis.exports.dwca import write_dwca

            result.notes.extend(write_dwca(obs, tmp, territory_info(con), f.describe(), public_mode))
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
