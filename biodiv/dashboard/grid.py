"""The national reference grid French atlases use: Lambert-93 squares of 10 km and 1 km with
their INPN/EEA codes (``10kmL93E068N628`` = the 10 km cell whose south-west corner is at
x = 680 km, y = 6,280 km).

Why the projection is written out in SQL: the dashboard's readers are plain DuckDB
instances without the spatial extension (see ``ui.open_reader``), and counting 1M
observations per cell must stay in DuckDB. Lambert-93 is a Lambert conformal conic on
GRS80 whose constants IGN publishes (NTG 71); the closed formula below agrees with pyproj
(EPSG:4326 → EPSG:2154) to a few centimetres (tests/test_dashboard_maps.py), far below a
1 km cell. WGS84 and RGF93 differ by less than a metre. The few cells drawn go back to
longitude/latitude with pyproj.
"""

from __future__ import annotations

import math
from functools import lru_cache

# IGN's constants for Lambert-93 (NTG 71, "projection conique conforme Lambert-93")
_N = 0.7256077650532670
_C = 11754255.426096
_XS = 700000.0
_YS = 12655612.049876
_E = 0.0818191910428158
_LON0 = 3.0

# cell size (m) -> (code prefix, digits of the E/N numbers)
SIZES = {10_000: ("10kmL93", 3), 1_000: ("1kmL93", 4)}


def _iso_lat_sql(lat: str) -> str:
    phi = f"radians({lat})"
    return (f"(ln(tan(pi() / 4 + {phi} / 2)) - {_E / 2!r} * "
            f"ln((1 + {_E!r} * sin({phi})) / (1 - {_E!r} * sin({phi}))))")


def l93_sql(lon: str = "lon", lat: str = "lat") -> tuple[str, str]:
    """SQL expressions of the Lambert-93 x and y (metres) of columns ``lon``/``lat`` (degrees)."""
    r = f"({_C!r} * exp(-{_N!r} * {_iso_lat_sql(lat)}))"
    g = f"({_N!r} * radians({lon} - {_LON0!r}))"
    return f"({_XS!r} + {r} * sin({g}))", f"({_YS!r} - {r} * cos({g}))"


def l93(lon: float, lat: float) -> tuple[float, float]:
    """The same formula in Python (tests and single points)."""
    phi = math.radians(lat)
    iso = math.log(math.tan(math.pi / 4 + phi / 2)) - _E / 2 * math.log(
        (1 + _E * math.sin(phi)) / (1 - _E * math.sin(phi)))
    r = _C * math.exp(-_N * iso)
    g = _N * math.radians(lon - _LON0)
    return _XS + r * math.sin(g), _YS - r * math.cos(g)


def cell_code(size_m: int, ix: int, iy: int) -> str:
    """Official code of the cell ``(ix, iy)`` = (floor(x / size), floor(y / size))."""
    prefix, digits = SIZES[size_m]
    return f"{prefix}E{int(ix):0{digits}d}N{int(iy):0{digits}d}"


def parse_code(code: str) -> tuple[int, int, int] | None:
    """``(size_m, ix, iy)`` of an official code, or None when it is not one."""
    for size, (prefix, digits) in SIZES.items():
        if code.startswith(prefix + "E") and len(code) == len(prefix) + 2 + 2 * digits:
            e, _, n = code[len(prefix) + 1:].partition("N")
            if e.isdigit() and n.isdigit() and len(e) == digits:
                return size, int(e), int(n)
    return None


@lru_cache(maxsize=1)
def _to_lonlat():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)


def cell_ring(size_m: int, ix: int, iy: int) -> list[list[float]]:
    """The cell's outline in longitude/latitude (closed ring, 1e-5° precision)."""
    x0, y0 = ix * size_m, iy * size_m
    xs = [x0, x0 + size_m, x0 + size_m, x0, x0]
    ys = [y0, y0, y0 + size_m, y0 + size_m, y0]
    lons, lats = _to_lonlat().transform(xs, ys)
    return [[round(float(a), 5), round(float(b), 5)] for a, b in zip(lons, lats)]
