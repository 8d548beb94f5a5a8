"""Reading and checking an area layer: pure functions on files and GeoDataFrames.

Why apart from :mod:`biodiv.areas.reference`: every source of areas (an INPN Shapefile in
Lambert-93, a colleague's GeoPackage, the geo.api.gouv.fr GeoJSON, WFS pages) goes through
the same checks, and none of them needs the database — so they are tested alone and run
before any writer is opened, which is what keeps bad input from ever touching the store.

Steps: :func:`read_layer` (any OGR format through pyogrio, a ``.zip`` too), then
:func:`prepare_areas` (reproject to WGS84, repair invalid rings keeping polygonal parts —
a MultiPolygon stays one area —, pick the code/name fields, refuse duplicates, km² in
Lambert-93, bbox columns).
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from biodiv.attach.crs import LAMBERT93, WGS84
from biodiv.errors import BiodivError

READABLE_IN_ZIP = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".kml", ".gml")

# Default (code, name) attribute names per area type, first match wins.
_N2000 = (("SITECODE", "sitecode", "code", "CODE"), ("SITENAME", "sitename", "nom", "NOM", "name"))
_ZNIEFF = (("ID_MNHN", "id_mnhn", "NM_SFFZN", "nm_sffzn", "code"), ("NOM", "nom", "LB_ZN", "lb_zn", "nom_site"))
FIELD_GUESSES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "commune": (
        ("code", "insee", "INSEE_COM", "insee_com", "CODE_INSEE", "code_insee", "INSEE"),
        ("nom", "NOM", "NOM_COM", "nom_com", "name", "NAME"),
    ),
    "n2000_zsc": _N2000,
    "n2000_zps": _N2000,
    "znieff1": _ZNIEFF,
    "znieff2": _ZNIEFF,
    "custom": (("code", "CODE", "id", "ID"), ("nom", "NOM", "name", "NAME", "libelle", "LIBELLE")),
}


class AreaImportError(BiodivError):
    """An area layer that cannot be imported as it is (one-line reason)."""


@dataclass
class PreparedAreas:
    """Checked areas, ready to write: one row per area, geometry as WKB (WGS84)."""

    area_type: str
    frame: pd.DataFrame                  # code, name, wkb, area_km2, xmin, ymin, xmax, ymax
    code_field: str | None
    name_field: str | None
    source_crs: str | None
    repaired: int = 0
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def read_layer(path: Path | str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one layer of any OGR-readable file; a ``.zip`` may hold it in a folder.

    A file with several layers (a GeoPackage often has) needs ``layer``: guessing would
    import the wrong zoning without a word, so the error lists the layers instead."""
    path = Path(path)
    if not path.exists():
        raise AreaImportError(f"{path} does not exist")
    if path.is_file() and path.stat().st_size == 0:
        raise AreaImportError(f"{path} is an empty file")
    target = str(path)
    if path.suffix.lower() == ".zip":
        target = _zip_member(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GDAL's own notes on a damaged file: the error below says it
            names = [str(n) for n in pyogrio.list_layers(target)[:, 0]]
        if layer is None and len(names) > 1:
            raise AreaImportError(
                f"{path} holds {len(names)} layers ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}): "
                "choose one with --layer"
            )
        if layer is not None and layer not in names:
            raise AreaImportError(f"{path} has no layer {layer!r}; its layers: {', '.join(names[:8])}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = gpd.read_file(target, engine="pyogrio", layer=layer)
    except AreaImportError:
        raise
    except Exception as exc:  # pyogrio.errors.DataSourceError, DataLayerError, ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AreaImportError(
            f"cannot read {path}: corrupted or not a geographic file ({first.split(';')[0]})"
        ) from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise AreaImportError(f"{path} has no geometry column: areas need polygons")
    return frame


def _zip_member(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(READABLE_IN_ZIP)]
    except zipfile.BadZipFile:
        raise AreaImportError(f"cannot read {path}: not a valid zip archive") from None
    if not names:
        raise AreaImportError(f"{path} holds no Shapefile, GeoPackage or GeoJSON")
    shp = [n for n in names if n.lower().endswith(".shp")]
    chosen = shp or names
    if len(chosen) > 1:
        raise AreaImportError(f"{path} holds several layers ({', '.join(chosen[:5])}): unzip it and import one")
    return f"/vsizip/{path.resolve()}/{chosen[0]}"


# ---------------------------------------------------------------------------
# Pure preparation
# ---------------------------------------------------------------------------

def to_wgs84(frame: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Reproject from the declared CRS; with none, accept only coordinates that fit lon/lat."""
    geoms = frame.geometry
    if frame.crs is None:
        xmin, ymin, xmax, ymax = geoms.total_bounds
        if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
            raise AreaImportError(
                f"{label} declares no CRS and its coordinates are not longitude/latitude "
                f"(x {xmin:.0f}..{xmax:.0f}): unknown CRS, add a .prj or convert it to EPSG:4326"
            )
        return frame.set_crs(WGS84)
    try:
        out = frame.to_crs(WGS84)
    except Exception as exc:
        raise AreaImportError(f"{label}: cannot reproject from {frame.crs} ({exc})") from None
    declared = frame.crs.to_string()
    xmin, ymin, xmax, ymax = out.geometry.total_bounds
    if not (np.all(np.isfinite([xmin, ymin, xmax, ymax])) and -180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise AreaImportError(
            f"{label}: coordinates do not fit its declared CRS {declared} "
            f"(x {xmin:.0f}..{xmax:.0f}): wrong CRS, fix the .prj or convert the file"
        )
    aou = frame.crs.area_of_use
    if aou is not None and not shapely.box(xmin, ymin, xmax, ymax).intersects(
        shapely.box(aou.west - 1, aou.south - 1, aou.east + 1, aou.north + 1)
    ):
        raise AreaImportError(
            f"{label}: its features lie outside the area where {declared} is used ({aou.name}): "
            "wrong CRS, fix the .prj or convert the file"
        )
    return out


# Where French territories lie (lon/lat boxes with a margin of about 0.3°): mainland France
# and Corsica, the overseas departments and regions, and the overseas collectivities with
# communes. A layer of a French territory has every feature in one of them.
FRANCE_BOXES = {
    "France métropolitaine": (-6.5, 40.5, 10.5, 51.6),
    "Guadeloupe, Saint-Martin, Saint-Barthélemy": (-63.5, 15.5, -60.5, 18.5),
    "Martinique": (-61.6, 14.0, -60.5, 15.2),
    "Guyane": (-55.0, 1.8, -51.2, 6.1),
    "La Réunion": (54.9, -21.7, 56.2, -20.5),
    "Mayotte": (44.6, -13.4, 45.6, -12.3),
    "Saint-Pierre-et-Miquelon": (-56.8, 46.5, -55.8, 47.4),
    "Polynésie française": (-155.0, -28.5, -134.0, -7.0),
    "Nouvelle-Calédonie": (162.5, -23.5, 169.5, -18.5),
    "Wallis-et-Futuna": (-178.6, -14.6, -175.8, -12.9),
}


def _in_france(xmin, ymin, xmax, ymax) -> np.ndarray:
    """Per feature (arrays of bounds): does its box meet one of :data:`FRANCE_BOXES`?"""
    hit = np.zeros(len(xmin), dtype=bool)
    for bx0, by0, bx1, by1 in FRANCE_BOXES.values():
        hit |= (xmin <= bx1) & (xmax >= bx0) & (ymin <= by1) & (ymax >= by0)
    return hit


def check_in_france(frame: gpd.GeoDataFrame, code_field: str, area_type: str, label: str,
                    declared: str | None) -> None:
    """Refuse features (in lon/lat) that lie outside every French territory, saying when
    their longitude and latitude look swapped.

    Why: a layer written lat/lon (some WFS answers, hand-made GeoJSON) is valid lon/lat
    for every check before this one, and was imported: the territory went from 482 to
    1,084 km² somewhere in the Gulf of Aden and its 2,521 observations to 0. The same
    layer with the axes swapped back lies in France: that is what the message says."""
    b = shapely.bounds(np.asarray(frame.geometry.values, dtype=object))
    xmin, ymin, xmax, ymax = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    inside = _in_france(xmin, ymin, xmax, ymax)
    if inside.all():
        return
    swapped = _in_france(ymin, xmin, ymax, xmax) & ~inside
    outside = ~inside
    codes = [_as_code(v, area_type) or "(no code)" for v in frame[code_field].to_numpy()[outside].tolist()]
    shown = ", ".join(codes[:5]) + (", ..." if len(codes) > 5 else "")
    crs = f" (declared CRS {declared})" if declared else " (no CRS declared: read as lon/lat)"
    if swapped[outside].all():
        raise AreaImportError(
            f"{label}: {len(codes)} of {len(frame)} feature(s) lie outside France but inside it with longitude "
            f"and latitude swapped (code {shown}){crs}: the file is written latitude first; convert it "
            "(e.g. ogr2ogr -s_srs EPSG:4326 -t_srs OGC:CRS84) and import it again"
        )
    raise AreaImportError(
        f"{label}: {len(codes)} of {len(frame)} feature(s) lie outside France and its overseas territories "
        f"(code {shown}; x {np.nanmin(xmin[outside]):.2f}..{np.nanmax(xmax[outside]):.2f}, "
        f"y {np.nanmin(ymin[outside]):.2f}..{np.nanmax(ymax[outside]):.2f}){crs}: wrong CRS or wrong file"
    )


def check_finite(frame: gpd.GeoDataFrame, code_field: str, area_type: str, label: str) -> None:
    """Refuse features with a NaN or infinite coordinate, naming them by code.

    Why before anything else: GEOS fails on them deep inside reprojection or repair
    with an error that names neither the file nor the feature."""
    coords, index = shapely.get_coordinates(frame.geometry.values, return_index=True)  # x, y only
    bad_rows = np.unique(index[~np.isfinite(coords).all(axis=1)])
    if bad_rows.size:
        codes = [_as_code(v, area_type) or "(no code)" for v in frame[code_field].iloc[bad_rows].tolist()]
        raise AreaImportError(
            f"{label}: {len(codes)} feature(s) have a NaN or infinite coordinate (code {', '.join(codes[:5])}"
            f"{', ...' if len(codes) > 5 else ''}); fix or remove them and import again"
        )


def polygonal_part(geom):
    """The polygonal part of a geometry (Polygon/MultiPolygon), or None."""
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        return geom
    if kind == "GeometryCollection":
        polys: list = []
        for part in geom.geoms:
            sub = polygonal_part(part)
            if sub is not None:
                polys.extend(getattr(sub, "geoms", [sub]))
        if not polys:
            return None
        return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    return None


def repair(geoms: Sequence) -> tuple[list, int]:
    """``make_valid`` invalid geometries and keep their polygonal parts; count repairs."""
    arr = shapely.force_2d(np.asarray(geoms, dtype=object))
    invalid = ~shapely.is_valid(arr)
    if invalid.any():
        arr[invalid] = shapely.make_valid(arr[invalid])
    return [polygonal_part(g) for g in arr], int(invalid.sum())


def repair_notes(before: Sequence, codes: Sequence[str], label: str) -> list[str]:
    """One warning naming the repaired features.

    Why say it: a self-intersecting ring ("bow tie", a digitising slip) is valid after
    ``make_valid`` but may not be the shape that was meant; the officer checks those codes
    in QGIS."""
    bad = [code for old, code in zip(before, codes) if old is not None and not shapely.is_valid(old)]
    shown = ", ".join(bad[:5]) + (", ..." if len(bad) > 5 else "")
    return [f"warning: {label}: {len(bad)} invalid polygon(s) repaired (self-intersecting or badly nested "
            f"rings), code {shown}: check their limits"]


def pick_field(columns: Sequence[str], explicit: str | None, candidates: Sequence[str], what: str, option: str) -> str:
    cols = [c for c in columns if c != "geometry"]
    if explicit:
        if explicit in cols:
            return explicit
        raise AreaImportError(
            f"no field {explicit!r} for the {what}; available fields: {', '.join(cols) or '(none)'}"
        )
    for name in candidates:
        if name in cols:
            return name
    lowered = {c.lower(): c for c in cols}
    for name in candidates:
        if name.lower() in lowered:
            return lowered[name.lower()]
    raise AreaImportError(
        f"cannot guess the {what} field; pass {option} FIELD, available fields: {', '.join(cols) or '(none)'}"
    )


def _as_code(value: Any, area_type: str) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    code = str(value).strip()
    if area_type == "commune" and code.isdigit() and len(code) == 4:
        code = code.zfill(5)  # 1001 read as a number was 01001
    return code or None


def prepare_areas(
    frame: gpd.GeoDataFrame,
    area_type: str,
    code_field: str | None = None,
    name_field: str | None = None,
    label: str = "the layer",
    allow_empty: bool = False,
) -> PreparedAreas:
    """Check and normalise a layer into rows for the ``areas`` table (no I/O)."""
    if area_type not in FIELD_GUESSES:
        raise AreaImportError(f"unknown area type {area_type!r}; known types: {', '.join(FIELD_GUESSES)}")
    if len(frame) == 0:
        if allow_empty:
            empty = pd.DataFrame(columns=["code", "name", "wkb", "area_km2", "xmin", "ymin", "xmax", "ymax"])
            return PreparedAreas(area_type, empty, code_field, name_field, None)
        raise AreaImportError(f"{label} holds no features")
    geoms = frame.geometry
    if geoms.isna().all() or geoms.is_empty.all():
        raise AreaImportError(f"{label} has no geometry: areas need polygons")
    codes_guess, names_guess = FIELD_GUESSES[area_type]
    cfield = pick_field(list(frame.columns), code_field, codes_guess, "area code", "--code-field")
    nfield = pick_field(list(frame.columns), name_field, names_guess, "area name", "--name-field")

    source_crs = frame.crs.to_string() if frame.crs is not None else None
    frame = frame[~(geoms.isna() | geoms.is_empty)]
    check_finite(frame, cfield, area_type, label)
    frame = to_wgs84(frame, label)
    check_in_france(frame, cfield, area_type, label, source_crs)
    try:
        fixed, repaired = repair(frame.geometry.values)
    except shapely.errors.GEOSException as exc:  # a geometry GEOS cannot even repair
        raise AreaImportError(f"{label}: a geometry cannot be repaired ({str(exc).splitlines()[0]})") from None
    bad = [i for i, g in enumerate(fixed) if g is None]
    if len(bad) == len(fixed):
        kinds = sorted(set(frame.geometry.geom_type))
        raise AreaImportError(f"{label} holds only {'/'.join(kinds)} geometries: areas need polygons")
    if bad:
        kinds = sorted(set(frame.geometry.iloc[bad].geom_type))
        raise AreaImportError(
            f"{label}: {len(bad)} feature(s) are {'/'.join(kinds)}, not polygons; areas need polygons only"
        )

    codes = [_as_code(v, area_type) for v in frame[cfield].tolist()]
    if any(c is None for c in codes):
        raise AreaImportError(f"{label}: {sum(c is None for c in codes)} feature(s) have no {cfield!r} code")
    dup = pd.Series(codes)[pd.Series(codes).duplicated()].unique().tolist()
    if dup:
        raise AreaImportError(
            f"{label}: duplicate codes in field {cfield!r} ({', '.join(map(str, dup[:5]))}"
            f"{', ...' if len(dup) > 5 else ''}); one feature per area, merge them first"
        )
    names = [None if pd.isna(v) else str(v).strip() for v in frame[nfield].tolist()]

    wgs = gpd.GeoSeries(fixed, crs=WGS84)
    km2 = wgs.to_crs(LAMBERT93).area.to_numpy() / 1e6
    bounds = wgs.bounds
    out = pd.DataFrame(
        {
            "code": codes,
            "name": names,
            "wkb": shapely.to_wkb(np.asarray(fixed, dtype=object)),
            "area_km2": km2,
            "xmin": bounds["minx"].to_numpy(),
            "ymin": bounds["miny"].to_numpy(),
            "xmax": bounds["maxx"].to_numpy(),
            "ymax": bounds["maxy"].to_numpy(),
        }
    )
    notes = repair_notes(shapely.force_2d(np.asarray(frame.geometry.values, dtype=object)), codes, label) if repaired else []
    return PreparedAreas(area_type, out, cfield, nfield, source_crs, repaired, notes)


def swap_axes_if_needed(frame: gpd.GeoDataFrame, ref_bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Swap lat/lon when a service answered in EPSG:4326 axis order (lat first).

    Decided on the data: if the layer misses ``ref_bbox`` but its swapped version meets it.
    """
    if len(frame) == 0:
        return frame
    ref = shapely.box(*ref_bbox)
    bbox = shapely.box(*frame.geometry.total_bounds)
    if bbox.intersects(ref):
        return frame
    swapped = shapely.transform(frame.geometry.values, lambda c: c[:, ::-1])
    if shapely.box(*shapely.total_bounds(swapped)).intersects(ref):
        return frame.set_geometry(gpd.GeoSeries(swapped, index=frame.index, crs=frame.crs))
    return frame


def merge_duplicate_codes(frame: gpd.GeoDataFrame, area_type: str) -> gpd.GeoDataFrame:
    """One feature per code: parts of a site served as several features become one
    MultiPolygon. For layers from an authoritative service only — a user's file with
    duplicate codes is refused instead (it may be a mistake)."""
    if len(frame) == 0:
        return frame
    code = pick_field(list(frame.columns), None, FIELD_GUESSES[area_type][0], "area code", "--code-field")
    if not frame[code].duplicated().any():
        return frame
    return frame.dissolve(by=code, as_index=False, aggfunc="first")
