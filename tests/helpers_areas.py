"""Test helpers of the areas/territory part: a stand-in for geo.api.gouv.fr and the IGN
Géoplateforme WFS (real HTTP on 127.0.0.1, port 0, in a thread), synthetic layers, and
a snapshot of every table to prove that a failed command changed nothing.

The stand-in answers in the documented formats: geo.api.gouv.fr GeoJSON
FeatureCollections with properties ``code``/``nom`` (built from the real Hérault file of
``$BIODIV_SHARED_DATA``) and JSON lists for ``/epcis/{siren}/communes``; WFS 2.0
GetFeature GeoJSON with ``numberMatched``/``numberReturned``, honouring BBOX (lat/lon
axis order), COUNT and STARTINDEX.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import shapely
from shapely.geometry import mapping, shape

CCVH_SIREN = "243400694"


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return mapping(shapely.box(x0, y0, x1, y1))


def n2000_feature(code: str, name: str, geometry: dict) -> dict:
    """A feature shaped like the Géoplateforme PROTECTEDAREAS layers (lower-case attributes)."""
    return {
        "type": "Feature",
        "id": f"sic.{code}",
        "geometry": geometry,
        "geometry_name": "the_geom",
        "properties": {"sitecode": code, "sitename": name, "url": f"https://inpn.mnhn.fr/site/natura2000/{code}"},
    }


def ccvh_n2000_layers() -> dict[str, list[dict]]:
    """Synthetic Natura 2000 sites placed against the real CCVH outline
    (bbox lon 3.429–3.749, lat 43.504–43.794)."""
    bowtie = {  # self-intersecting ring, inside the territory: must be repaired, not refused
        "type": "Polygon",
        "coordinates": [[[3.50, 43.70], [3.54, 43.74], [3.54, 43.70], [3.50, 43.74], [3.50, 43.70]]],
    }
    two_parts = {  # one part inside, one far outside: stays ONE area
        "type": "MultiPolygon",
        "coordinates": [
            mapping(shapely.box(3.60, 43.55, 3.64, 43.59))["coordinates"],
            mapping(shapely.box(3.70, 43.30, 3.72, 43.32))["coordinates"],
        ],
    }
    return {
        "PROTECTEDAREAS.SIC:sic": [
            n2000_feature("FR9100001", "Site test intérieur", square(3.55, 43.62, 3.61, 43.68)),
            n2000_feature("FR9100002", "Site test coin nord-ouest", square(3.43, 43.78, 3.445, 43.793)),
            n2000_feature("FR9100003", "Site test lointain", square(3.10, 43.30, 3.15, 43.35)),
            n2000_feature("FR9100004", "Site test noeud papillon", bowtie),
            n2000_feature("FR9100005", "Site test bordure", square(3.70, 43.60, 3.80, 43.65)),
        ],
        "PROTECTEDAREAS.ZPS:zps": [
            n2000_feature("FR9110001", "ZPS test deux parties", two_parts),
            # one site served as two features (the service splits it): merged into one area
            {**n2000_feature("FR9110002", "ZPS test scindée", square(3.45, 43.55, 3.48, 43.58)), "id": "zps.2a"},
            {**n2000_feature("FR9110002", "ZPS test scindée", square(3.48, 43.55, 3.50, 43.58)), "id": "zps.2b"},
        ],
    }


class GeoStandIn:
    """geo.api.gouv.fr under ``/geo`` and a WFS under ``/wfs`` on 127.0.0.1."""

    def __init__(self, admin_dir: Path | None = None, wfs_layers: dict[str, list[dict]] | None = None):
        self.communes: list[dict] = []
        self.epcis: list[dict] = []
        if admin_dir is not None:
            self.communes = json.loads((admin_dir / "communes-34-herault.geojson").read_text())["features"]
            self.epcis = json.loads(
                (admin_dir / "epci-34-herault_decoupage-administratif-6.0.0.json").read_text()
            )
        self.wfs_layers = wfs_layers if wfs_layers is not None else ccvh_n2000_layers()
        self.requests: list[str] = []      # path?query of every request received
        self.user_agents: list[str] = []
        self.fail_status: int | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self) -> "GeoStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def geo_api_url(self) -> str:
        return self.base + "/geo"

    @property
    def wfs_url(self) -> str:
        return self.base + "/wfs"

    def count(self, fragment: str) -> int:
        return sum(fragment in r for r in self.requests)

    # -- routing --------------------------------------------------------------
    def _epci(self, siren: str) -> dict | None:
        return next((e for e in self.epcis if e["code"] == siren), None)

    def _feature(self, f: dict) -> dict:
        props = {"nom": f["properties"]["nom"], "code": f["properties"]["code"]}
        return {"type": "Feature", "geometry": f["geometry"], "properties": props}

    def route(self, path: str, q: dict[str, str]) -> tuple[int, object]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["geo"]:
            parts = parts[1:]
            if len(parts) == 2 and parts[0] == "epcis":
                e = self._epci(parts[1])
                return (200, {"nom": e["nom"], "code": e["code"]}) if e else (404, {"code": 404, "message": "EPCI non trouvé"})
            if len(parts) == 3 and parts[0] == "epcis" and parts[2] == "communes":
                e = self._epci(parts[1])
                if not e:
                    return 404, {"code": 404, "message": "EPCI non trouvé"}
                return 200, [{"nom": m["nom"], "code": m["code"]} for m in e["membres"]]
            if parts == ["communes"] and "codeEpci" in q:
                e = self._epci(q["codeEpci"])
                codes = {m["code"] for m in e["membres"]} if e else set()
                feats = [self._feature(f) for f in self.communes if f["properties"]["code"] in codes]
                return 200, {"type": "FeatureCollection", "features": feats}
            if len(parts) == 3 and parts[0] == "departements" and parts[2] == "communes":
                feats = [self._feature(f) for f in self.communes if f["properties"]["code"].startswith(parts[1])]
                return 200, {"type": "FeatureCollection", "features": feats}
            return 404, {"code": 404, "message": "Not found"}
        if parts == ["wfs"]:
            return self._wfs(q)
        return 404, {"message": "no such route"}

    def _wfs(self, q: dict[str, str]) -> tuple[int, object]:
        if q.get("REQUEST") != "GetFeature" or q.get("TYPENAMES") not in self.wfs_layers:
            xml = (
                '<?xml version="1.0"?><ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1">'
                "<ows:Exception><ows:ExceptionText>Unknown TYPENAMES</ows:ExceptionText></ows:Exception>"
                "</ows:ExceptionReport>"
            )
            return 400, xml
        feats = self.wfs_layers[q["TYPENAMES"]]
        if "BBOX" in q:
            lat0, lon0, lat1, lon1 = (float(v) for v in q["BBOX"].split(",")[:4])
            box = shapely.box(lon0, lat0, lon1, lat1)
            feats = [f for f in feats if shape(f["geometry"]).intersects(box)]
        start = int(q.get("STARTINDEX", 0))
        count = int(q.get("COUNT", 1000))
        page = feats[start:start + count]
        return 200, {
            "type": "FeatureCollection",
            "features": page,
            "totalFeatures": len(feats),
            "numberMatched": len(feats),
            "numberReturned": len(page),
            "timeStamp": "2026-11-22T12:00:00Z",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}},
        }

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                stand_in.requests.append(self.path)
                stand_in.user_agents.append(self.headers.get("User-Agent", ""))
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if stand_in.fail_status:
                    status, body = stand_in.fail_status, {"message": "server error"}
                else:
                    status, body = stand_in.route(url.path, q)
                if isinstance(body, str):
                    data, ctype = body.encode(), "text/xml"
                else:
                    data, ctype = json.dumps(body).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def closed_port_url() -> str:
    """A base URL where nothing listens (connection refused)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------------------
# Proving that nothing changed
# ---------------------------------------------------------------------------

TABLES = ("areas", "territory", "observation_areas", "runs", "observations", "meta")


def snapshot_con(con) -> dict:
    """Every row of the tables this area touches, geometry as WKT, in a stable order."""
    out = {}
    for table in TABLES:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        exprs = [f"ST_AsText({c})" if c == "geom" else f"CAST({c} AS VARCHAR)" for c in cols]
        out[table] = con.execute(f"SELECT {', '.join(exprs)} FROM {table} ORDER BY ALL").fetchall()
    return out


def snapshot(store) -> tuple[str, dict]:
    """(sha256 of the published file, table contents) of a store."""
    digest = hashlib.sha256(store.path.read_bytes()).hexdigest()
    with store.read() as con:
        return digest, snapshot_con(con)


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run ``biodiv ARGS`` in-process through ``biodiv.cli.root.main`` (the real entry point:
    errors become one red line and exit code 1). Returns (exit code, stdout, stderr)."""
    import sys

    from biodiv.cli import root as cli

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["biodiv", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
