"""A stand-in iNaturalist API server for the harvester's tests and bench.

Real HTTP on 127.0.0.1 (``ThreadingHTTPServer`` in a thread, port 0) serving
``/v1/observations``, ``/v2/observations`` and ``/v1/taxa/{ids}`` in the real response
format. Observations are built from the real records of
``$BIODIV_SHARED_DATA/inaturalist`` (``api_v1`` for v1 answers, 59 KB each; v2 answers in
the real v2 shape, projected by the request's ``fields`` selection as the real API does:
nested, and only ``uuid`` without a selection). v2 reads are ``POST`` with
``X-HTTP-Method-Override: GET`` and a JSON body (pyinaturalist's way), or ``GET``.
Bodies are gzip-compressed when the client accepts it, as iNaturalist's are. It can
enforce a request rate with 429s and inject faults (500, timeout, truncated JSON,
dropped connection) and observations can vanish or change between requests.
"""

from __future__ import annotations

import bisect
import gzip
import json
import random
import threading
import time
import uuid as uuidlib
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from biodiv.config import Config

# Vallée de l'Hérault bounding box (lon/lat), used for synthetic coordinates.
BBOX = (3.429, 43.504, 3.749, 43.794)
LIFE = 48460
RANKS = [("kingdom", 70), ("phylum", 60), ("class", 50), ("order", 40), ("family", 30), ("genus", 20),
         ("species", 10)]
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------
# synthetic data, real shape
# ---------------------------------------------------------------------------

def _taxon_record(tid, name, rank, level, ancestor_ids, common=None, iconic="Plantae", conservation=None):
    """A taxon as embedded in observations and answered by /taxa (same keys as the real ones)."""
    return {
        "is_active": True,
        "ancestry": "/".join(str(a) for a in ancestor_ids[:-1]) or None,
        "min_species_ancestry": ",".join(str(a) for a in ancestor_ids),
        "endemic": False,
        "iconic_taxon_id": 47126,
        "min_species_taxon_id": tid,
        "threatened": conservation is not None and conservation.get("iucn", 0) >= 30,
        "rank_level": level,
        "introduced": False,
        "native": True,
        "parent_id": ancestor_ids[-2] if len(ancestor_ids) > 1 else None,
        "name": name,
        "rank": rank,
        "extinct": False,
        "id": tid,
        "ancestor_ids": list(ancestor_ids),
        "photos_locked": False,
        "taxon_schemes_count": 1,
        "wikipedia_url": f"http://fr.wikipedia.org/wiki/{name.replace(' ', '_')}",
        "current_synonymous_taxon_ids": None,
        "created_at": "2010-01-01T00:00:00+00:00",
        "taxon_changes_count": 0,
        "complete_species_count": None,
        "universal_search_rank": 100,
        "observations_count": 100,
        "flag_counts": {"unresolved": 0, "resolved": 0},
        "atlas_id": None,
        "default_photo": {
            "square_url": f"https://static.inaturalist.org/photos/{tid}/square.jpg",
            "attribution": "(c) someone, some rights reserved (CC BY-NC)",
            "flags": [],
            "medium_url": f"https://static.inaturalist.org/photos/{tid}/medium.jpg",
            "id": tid,
            "license_code": "cc-by-nc",
            "original_dimensions": {"width": 2048, "height": 1536},
            "url": f"https://static.inaturalist.org/photos/{tid}/square.jpg",
        },
        "iconic_taxon_name": iconic,
        "preferred_common_name": common,
        **({"conservation_status": conservation} if conservation else {}),
    }


_EXTRAS: dict = {}


def _taxon_extras() -> dict:
    if not _EXTRAS:
        real = json.loads((_shared_dir() / "inaturalist/api_v1/get_taxa_by_id.json").read_text())["results"][0]
        _EXTRAS.update({k: real[k] for k in ("children", "listed_taxa", "listed_taxa_count", "taxon_photos",
                                             "wikipedia_summary", "vision", "provisional") if k in real})
    return _EXTRAS


class Taxonomy:
    """A small tree Life > kingdom > … > species with distinct ids."""

    def __init__(self, n_species: int, fanout: int = 4, seed: int = 1):
        rng = random.Random(seed)
        self.records: dict[int, dict] = {}
        self.species: list[int] = []
        next_id = [1000]

        def new_id():
            next_id[0] += 1
            return next_id[0]

        self.records[LIFE] = _taxon_record(LIFE, "Life", "stateofmatter", 100, [LIFE], "Vie")
        kingdoms = [(1, "Animalia", "Animaux", "Animalia"), (47126, "Plantae", "Plantes", "Plantae")]
        frontier = []
        for kid, kname, kcommon, iconic in kingdoms:
            self.records[kid] = _taxon_record(kid, kname, "kingdom", 70, [LIFE, kid], kcommon, iconic)
            frontier.append(([LIFE, kid], iconic))
        for rank, level in RANKS[1:]:
            children = []
            for lineage, iconic in frontier:
                count = fanout if rank != "species" else fanout * 2
                for _ in range(count):
                    if rank == "species" and len(self.species) >= n_species:
                        break
                    tid = new_id()
                    genus = self.records[lineage[-1]]["name"] if rank == "species" else None
                    name = f"{genus} sp{tid}" if genus else f"{rank.capitalize()}{tid}"
                    conservation = None
                    if rank == "species" and rng.random() < 0.05:
                        conservation = {"user_id": None, "status_name": "vulnerable", "iucn": 30,
                                        "authority": "UICN France", "geoprivacy": None, "source_id": 1,
                                        "place_id": 6753, "status": "VU"}
                    rec = _taxon_record(tid, name, rank, level, lineage + [tid],
                                        f"nom {tid}" if rank in ("species", "genus") else None, iconic,
                                        conservation)
                    self.records[tid] = rec
                    children.append((lineage + [tid], iconic))
                    if rank == "species":
                        self.species.append(tid)
            frontier = children
            if rank == "genus":
                # enough genera for the species wanted, no more
                need = max(1, -(-n_species // (fanout * 2)))
                frontier = frontier[:need]

    def answer(self, tid: int) -> dict:
        """``/taxa/{id}`` answer: the record with its ``ancestors``, and the bulky parts of
        the real ``/v1/taxa/{id}`` answer (children, listed taxa, photos, Wikipedia summary:
        ~34 KB) so that taxa requests weigh what real ones do."""
        rec = dict(self.records[tid])
        rec["ancestors"] = [self.records[a] for a in rec["ancestor_ids"][:-1] if a in self.records]
        rec.update(_taxon_extras())
        if rec.get("conservation_status"):
            # the complete list /taxa answers (an observation embeds one status at most): the
            # real statuses of api_v1/get_taxa_by_id_conservation_statuses.json, one with its place
            rec["conservation_statuses"] = [dict(st, taxon_id=tid) for st in _real_statuses()]
        return rec


_STATUSES: list = []


def _real_statuses() -> list[dict]:
    if not _STATUSES:
        path = _shared_dir() / "inaturalist/api_v1/get_taxa_by_id_conservation_statuses.json"
        _STATUSES.extend(json.loads(path.read_text())["results"][0]["conservation_statuses"])
    return _STATUSES


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def _shared_dir() -> Path:
    import os

    import pytest

    env = os.environ.get("BIODIV_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / "inaturalist" / "api_v1" / "get_observations_page1.json").exists():
        pytest.skip("real iNaturalist responses absent: set BIODIV_SHARED_DATA to ../shared/data")
    return path


_TEMPLATES: dict[str, dict] = {}


def templates() -> dict[str, dict]:
    """The real records every generated one is built from (read once per process):
    ``v1`` the first result of ``api_v1/get_observations_page1.json`` (59 KB, two
    identifications each embedding a whole taxon and user), ``v2`` the result of
    ``api_v2/get_observations_full.json`` (fields=all)."""
    if not _TEMPLATES:
        root = _shared_dir() / "inaturalist"
        _TEMPLATES["v1"] = json.loads((root / "api_v1/get_observations_page1.json").read_text())["results"][0]
        _TEMPLATES["v2"] = json.loads((root / "api_v2/get_observations_full.json").read_text())["results"][0]
    return _TEMPLATES


def make_observation(oid: int, taxon: dict | None, lon: float | None, lat: float | None,
                     updated_at: datetime, *, obscured=False, geoprivacy=None, string_coords=False,
                     accuracy: int | None = 12, user_id: int = 7, with_photo=True) -> dict:
    """A ``/v1/observations`` result: the real v1 record with its id, uuid, dates, place,
    taxon, observer and photo varied (nested parts that do not vary are shared, not copied:
    records are generated per request at any N)."""
    real = templates()["v1"]
    observed = updated_at - timedelta(days=2)
    located = lon is not None and lat is not None
    coords = [str(lon), str(lat)] if string_coords else [lon, lat]
    login = f"user{user_id}"
    photo = dict(real["photos"][0], id=oid * 10,
                 url=f"https://static.inaturalist.org/photos/{oid * 10}/square.jpg?1598551272",
                 attribution=f"(c) {login}, some rights reserved (CC BY-NC)")
    user = dict(real["user"], id=user_id, login=login, login_autocomplete=login, login_exact=login,
                name=f"Observer {user_id}" if user_id % 3 else None)
    idents = []
    for k, ident in enumerate(real["identifications"]):
        who = user if k == 0 else ident["user"]
        # the real identification's taxon (with its whole ``ancestors`` list) carrying ours
        ident_taxon = dict(ident["taxon"], **taxon) if taxon else None
        idents.append(dict(ident, id=oid * 10 + k, taxon=ident_taxon, taxon_id=taxon["id"] if taxon else None,
                           user=who, created_at=iso(observed + timedelta(hours=3 + k)),
                           own_observation=k == 0))
    record = dict(real)
    record.update({
        "id": oid, "uuid": str(uuidlib.UUID(int=oid)),
        "created_at": iso(observed + timedelta(hours=3)),
        "community_taxon_id": taxon["id"] if taxon else None,
        "geojson": {"coordinates": coords, "type": "Point"} if located else None,
        "location": f"{lat},{lon}" if located else None, "mappable": located,
        "geoprivacy": geoprivacy, "obscured": obscured,
        "ident_taxon_ids": list(taxon["ancestor_ids"]) if taxon else [],
        "identifications": idents if taxon else [], "identifications_count": len(idents) if taxon else 0,
        "non_owner_ids": idents[1:] if taxon else [],
        "observation_photos": [dict(real["observation_photos"][0], id=oid, photo=photo,
                                    uuid=str(uuidlib.UUID(int=oid * 7)))] if with_photo else [],
        "photos": [photo] if with_photo else [],
        "observed_on": observed.date().isoformat(), "observed_on_string": iso(observed),
        "time_observed_at": iso(observed), "observed_time_zone": "Europe/Paris", "time_zone_offset": "+01:00",
        "place_guess": "Vallée de l'Hérault, France" if located else None,
        "place_ids": [6753], "positional_accuracy": accuracy,
        "public_positional_accuracy": (28000 if obscured else accuracy) if located else None,
        "quality_grade": "research" if taxon else "casual", "reviewed_by": [user_id],
        "species_guess": taxon["name"] if taxon else None, "taxon": taxon,
        "taxon_geoprivacy": "open" if taxon else None, "updated_at": iso(updated_at),
        "uri": f"https://www.inaturalist.org/observations/{oid}", "user": user,
    })
    return record


def to_v2(record: dict) -> dict:
    """The same observation as API v2 sends it with ``fields=all`` (the real v2 record's
    shape: no ``private_location``, an ``application``, identification taxa as ``{id}``)."""
    real = templates()["v2"]
    out = dict(record)
    out.pop("private_location", None)
    out["application"] = real["application"]
    out["identifications"] = [dict(i, taxon={"id": i["taxon"]["id"]} if isinstance(i.get("taxon"), dict) else None)
                              for i in record.get("identifications") or []]
    return out


def parse_rison(text: str):
    """The RISON subset of a v2 ``fields`` selection: ``(a:!t,b:(c:!t))`` -> nested dict."""
    pos = 0

    def value():
        nonlocal pos
        if text.startswith("!t", pos):
            pos += 2
            return True
        if text[pos] != "(":
            raise ValueError(f"bad RISON at {pos}: {text!r}")
        pos += 1
        out = {}
        while text[pos] != ")":
            end = text.index(":", pos)
            key = text[pos:end]
            pos = end + 1
            out[key] = value()
            if text[pos] == ",":
                pos += 1
        pos += 1
        return out

    result = value()
    if pos != len(text):
        raise ValueError(f"trailing RISON: {text!r}")
    return result


def v2_answer(record: dict, fields) -> dict:
    """What ``/v2/observations`` returns for one record: only ``uuid`` without a
    selection, everything with ``fields=all``, else the nested projection."""
    from biodiv.inat.fields import project

    if not fields:
        return {"uuid": record["uuid"]}
    full = to_v2(record)
    return full if fields == "all" else project(full, fields)


class ObservationSet:
    """Synthetic observations, generated lazily from their id (constant memory at any N)."""

    def __init__(self, n: int, taxonomy: Taxonomy, seed: int = 7, first_id: int = 1_000, step: int = 3,
                 bbox=BBOX):
        self.n, self.taxonomy, self.seed, self.first_id, self.step, self.bbox = n, taxonomy, seed, first_id, step, bbox
        self.overrides: dict[int, dict | None] = {}   # id -> replacement record, or None = vanished
        self.extra: dict[int, dict] = {}
        self._ids: list[int] | None = None
        self._outside: dict[tuple, list[int]] = {}   # query bbox -> generated ids outside it

    def _base(self) -> range:
        return range(self.first_id, self.first_id + self.n * self.step, self.step)

    def ids(self) -> list[int]:
        """Current ids, ascending (cached until the set changes)."""
        if self._ids is None:
            base = [i for i in self._base() if self.overrides.get(i, True) is not None] \
                if self.overrides else list(self._base())
            self._ids = sorted(base + list(self.extra)) if self.extra else base
        return self._ids

    def special(self) -> set[int]:
        """Ids whose record is not the generated one (they may not match a query)."""
        return set(self.overrides) | set(self.extra)

    def _draw(self, oid: int) -> tuple[int, float, float, bool]:
        """(species id, lon, lat, obscured) of a generated record, from its id alone."""
        rng = random.Random(self.seed * 1_000_003 + oid)
        xmin, ymin, xmax, ymax = self.bbox
        species = self.taxonomy.species[rng.randrange(len(self.taxonomy.species))]
        lon = round(xmin + (xmax - xmin) * rng.random(), 6)
        lat = round(ymin + (ymax - ymin) * rng.random(), 6)
        return species, lon, lat, rng.random() < 0.05

    def base_record(self, oid: int) -> dict:
        species, lon, lat, obscured = self._draw(oid)
        return make_observation(oid, self.taxonomy.records[species], lon, lat, self.base_updated_at(oid),
                                obscured=obscured, user_id=1 + oid % 97)

    def outside(self, bbox) -> list[int]:
        """Generated ids (ascending) whose point lies outside the query's ``bbox`` (lon/lat
        min/max), drawn without building the records; ``[]`` at once when ``bbox`` covers
        the box the points are drawn in (the benchmark's case). A territory's bbox
        narrower than that box (the real CCVH outline's, in the hardening tests) leaves
        some generated points outside: iNaturalist does not list them, nor does the
        stand-in."""
        x0, y0, x1, y1 = bbox
        gx0, gy0, gx1, gy1 = self.bbox
        if x0 <= gx0 and y0 <= gy0 and x1 >= gx1 and y1 >= gy1:
            return []
        key = tuple(bbox)
        if key not in self._outside:
            self._outside[key] = [
                oid for oid in self._base()
                if not (x0 <= (p := self._draw(oid))[1] <= x1 and y0 <= p[2] <= y1)]
        return self._outside[key]

    @staticmethod
    def base_updated_at(oid: int) -> datetime:
        """``updated_at`` of a generated record, known without generating it (an
        ``updated_since`` query over 200k ids must not build 200k records)."""
        return EPOCH + timedelta(minutes=oid % 500_000)

    def record(self, oid: int) -> dict | None:
        if oid in self.extra:
            return self.extra[oid]
        if oid in self.overrides:
            return self.overrides[oid]
        return self.base_record(oid)

    def vanish(self, oid: int) -> None:
        if oid in self.extra:
            del self.extra[oid]
        else:
            self.overrides[oid] = None
        self._ids = None

    def put(self, record: dict) -> None:
        oid = record["id"]
        if oid in self._base():
            self.overrides[oid] = record
        else:
            self.extra[oid] = record
        self._ids = None


def listed_ids(obs: ObservationSet, bbox, since: datetime | None = None) -> list[int]:
    """The ids iNaturalist lists for the harvest of a territory whose box is ``bbox`` (and
    ``updated_since``), by a plain scan of every current record (no shortcut of the
    stand-in's): what a harvest must store, no more, no less. The harvest asks the box
    widened to the 0.2° obscuring grid (:func:`biodiv.inat.query.query_box`). Records
    without coordinates (private) are listed, as the stand-in does."""
    from biodiv.inat.query import query_box

    x0, y0, x1, y1 = query_box(tuple(bbox))
    out = []
    for oid in obs.ids():
        rec = obs.record(oid)
        geo = rec.get("geojson")
        if geo:
            lon, lat = float(geo["coordinates"][0]), float(geo["coordinates"][1])
            if not (x0 <= lon <= x1 and y0 <= lat <= y1):
                continue
        if since is not None and datetime.fromisoformat(rec["updated_at"]) < since:
            continue
        out.append(oid)
    return out


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------

class StandInInat:
    """Start with ``with StandInInat(obs, taxonomy) as api:``; ``api.url`` is the ``/v1`` base."""

    def __init__(self, observations: ObservationSet, taxonomy: Taxonomy, *, rate_per_second: float | None = None,
                 rate_window: float = 1.0, only_id_cap: int = 500, sleep_timeout: float = 2.0):
        self.obs = observations
        self.taxonomy = taxonomy
        self.rate_per_second = rate_per_second
        self.rate_window = rate_window          # seconds over which rate_per_second is averaged
        self.refused = 0
        self.only_id_reject_above: int | None = None   # answer 422 to larger only_id pages
        self.only_id_cap = only_id_cap
        self.sleep_timeout = sleep_timeout
        self.faults: deque[str] = deque()      # consumed one per request: 500, 429, 429bare, timeout, truncated, drop, ok
        self.fault_rate: tuple[str, float, random.Random] | None = None   # (fault, share, rng) once faults run out
        self.v2_status: int | None = None      # answer every /v2 request with this HTTP error (v1 fallback)
        self.mutate_v2 = None                  # callable(results) -> results, applied to the next v2 page only
        self.spoil: dict = {}                  # id -> callable(record), applied in place to every v2 answer of it
        self.empty_v2_pages = 0                # this many v2 pages answered with results [] (total kept)
        self.bytes_sent = 0                    # response bodies as sent (gzip when accepted)
        self.json_bytes_sent = 0               # the same before compression
        self.log: list[tuple[str, dict, dict]] = []
        self.times: list[float] = []           # time.time() of every request received, answered or refused
        self.count = 0
        self.obs_pages = 0
        self.on_request = None                 # callback(server) after each answered request
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------
    def __enter__(self):
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def requests_to(self, prefix: str) -> list[tuple[str, dict, dict]]:
        return [entry for entry in self.log if entry[0].startswith(prefix)]

    # -- answers ----------------------------------------------------------------------
    def _rate_exceeded(self) -> bool:
        if not self.rate_per_second:
            return False
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > self.rate_window:
                self._times.popleft()
            if len(self._times) >= self.rate_per_second * self.rate_window:
                self.refused += 1
                return True
            self._times.append(now)
        return False

    def observations(self, q: dict) -> dict:
        def num(key, default=None, cast=float):
            return cast(q[key]) if key in q and q[key] != "" else default

        bbox = (num("swlng"), num("swlat"), num("nelng"), num("nelat"))
        id_above = num("id_above", 0, int)
        only_id = q.get("only_id") == "true"
        per_page = min(num("per_page", 30, int), self.only_id_cap if only_id else 200)
        since = datetime.fromisoformat(q["updated_since"]) if q.get("updated_since") else None

        def matches(rec) -> bool:
            if rec is None:
                return False
            geo = rec.get("geojson")
            if geo and None not in bbox:
                lon, lat = float(geo["coordinates"][0]), float(geo["coordinates"][1])
                if not (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]):
                    return False
            return since is None or datetime.fromisoformat(rec["updated_at"]) >= since

        if q.get("id"):
            # ``id=1,2,3``: those observations (still public, matching the other filters), by id
            wanted = sorted({int(x) for x in str(q["id"]).split(",") if x.strip().isdigit()})
            current = set(self.obs.ids())
            page = [self.obs.record(i) for i in wanted if i in current and i > id_above]
            page = [r for r in page if matches(r)][:per_page]
            return {"total_results": len(page), "page": 1, "per_page": per_page,
                    "results": [{"id": r["id"]} for r in page] if only_id else page}

        special = self.obs.special()
        outside = self.obs.outside(bbox) if None not in bbox else []
        outside_set = set(outside)

        def matches_id(oid) -> bool:
            # a generated record's point and updated_at follow from its id (no record built)
            if oid in special:
                return matches(self.obs.record(oid))
            if oid in outside_set:
                return False
            return since is None or self.obs.base_updated_at(oid) >= since

        ids = self.obs.ids()
        i = bisect.bisect_right(ids, id_above)
        page = []
        while i < len(ids) and len(page) < per_page:
            if matches_id(ids[i]):
                page.append(self.obs.record(ids[i]))
            i += 1
        if since is None:
            # what remains after the page: the ids left, less the special records that do
            # not match and the generated ones outside the bbox
            threshold = ids[i] if i < len(ids) else None
            bad = 0
            if threshold is not None:
                for sid in special:
                    rec = self.obs.record(sid)
                    if sid >= threshold and rec is not None and not matches(rec):
                        bad += 1
                bad += sum(1 for oid in outside[bisect.bisect_left(outside, threshold):] if oid not in special)
            rest = len(ids) - i - bad
        else:
            rest = sum(1 for oid in ids[i:] if matches_id(oid))
        results = [{"id": r["id"]} for r in page] if only_id else page
        return {"total_results": len(page) + rest, "page": 1, "per_page": per_page, "results": results}

    def observations_v2(self, q: dict, fields) -> dict:
        """``/v2/observations``: the same search (v1's parameters), records projected by ``fields``."""
        answer = self.observations(q)
        answer["results"] = [v2_answer(r, fields) for r in answer["results"]]
        for record in answer["results"]:
            if record.get("id") in self.spoil:      # sent spoiled on every request, as stored right
                record = self.spoil[record["id"]](record) or record
        if self.mutate_v2 is not None:
            mutate, self.mutate_v2 = self.mutate_v2, None
            answer["results"] = mutate(answer["results"])
        if self.empty_v2_pages > 0:
            self.empty_v2_pages -= 1
            answer["results"] = []
        return answer

    def taxa_v2(self, ids: list[int], fields) -> dict:
        """``/v2/taxa/{ids}``: only ``id`` without a selection (the real minimal answer)."""
        from biodiv.inat.fields import project

        answer = self.taxa(ids)
        answer["results"] = [project(t, fields) if fields else {"id": t["id"]} for t in answer["results"]]
        return answer

    def taxa(self, ids: list[int]) -> dict:
        results = [self.taxonomy.answer(i) for i in ids[:30] if i in self.taxonomy.records]
        return {"total_results": len(results), "page": 1, "per_page": 30, "results": results}


def _make_handler(server: StandInInat):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None):
            server.json_bytes_sent += len(body)
            if status == 200 and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body, 6)
                headers = dict(headers or {}, **{"Content-Encoding": "gzip"})
            server.bytes_sent += len(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):
            # a read with its parameters in a JSON body (v2 with a field selection)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("X-HTTP-Method-Override", "").upper() != "GET":
                return self._send(405, b'{"error":"Method not allowed","status":405}')
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._send(400, b'{"error":"invalid JSON body","status":400}')
            return self.do_GET(body)

        def do_GET(self, body: dict | None = None):
            parsed = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
            fields = None
            if body is not None:
                fields = body.pop("fields", None)
                q.update({k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in body.items()})
            elif q.get("fields") == "all":
                fields = "all"
            elif q.get("fields") and parsed.path.startswith("/v2/observations"):
                fields = parse_rison(q["fields"])
            with server._lock:
                server.count += 1
                server.times.append(time.time())
                server.log.append((parsed.path, q, dict(self.headers) | ({"_fields": fields} if fields else {})))
                fault = server.faults.popleft() if server.faults else "ok"
                if fault == "ok" and server.fault_rate is not None:
                    kind, share, rng = server.fault_rate
                    fault = kind if rng.random() < share else "ok"
            if fault == "500":
                return self._send(500, b'{"error":"Internal Server Error","status":500}')
            if fault == "429":
                return self._send(429, b'{"error":"Too Many Requests","status":429}', {"Retry-After": "0"})
            if fault == "429bare":      # a 429 without Retry-After (the client waits for the next minute)
                return self._send(429, b'{"error":"Too Many Requests","status":429}')
            if server._rate_exceeded():
                return self._send(429, b'{"error":"Too Many Requests","status":429}',
                                  {"Retry-After": str(int(server.rate_window))})
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "timeout":
                time.sleep(server.sleep_timeout)
            if parsed.path.rstrip("/") == "/v2/observations":
                if server.v2_status:
                    return self._send(server.v2_status, json.dumps(
                        {"error": "Unprocessable", "status": server.v2_status}).encode())
                body = server.observations_v2(q, fields)
                server.obs_pages += 1
            elif parsed.path.rstrip("/") == "/v1/observations":
                limit = server.only_id_reject_above
                if limit is not None and q.get("only_id") == "true" and int(q.get("per_page", 0)) > limit:
                    return self._send(422, b'{"error":"per_page too large","status":422}')
                body = server.observations(q)
                server.obs_pages += 1
            elif parsed.path.startswith("/v2/taxa/"):
                if server.v2_status:
                    return self._send(server.v2_status, json.dumps(
                        {"error": "Unprocessable", "status": server.v2_status}).encode())
                ids = [int(x) for x in parsed.path.rsplit("/", 1)[1].split(",") if x.strip().isdigit()]
                try:
                    selection = parse_rison(q["fields"]) if q.get("fields") else None
                except ValueError:
                    return self._send(422, b'{"error":"invalid fields","status":422}')
                body = server.taxa_v2(ids, selection)
            elif parsed.path.startswith("/v1/taxa/"):
                ids = [int(x) for x in parsed.path.rsplit("/", 1)[1].split(",") if x.strip().isdigit()]
                body = server.taxa(ids)
            else:
                return self._send(404, b'{"error":"Not found","status":404}')
            raw = json.dumps(body).encode()
            if fault == "truncated":
                raw = raw[: len(raw) // 2]
            self._send(200, raw)
            if server.on_request:
                server.on_request(server)

    return Handler


# ---------------------------------------------------------------------------
# test databases and configs
# ---------------------------------------------------------------------------

def harvest_config(tmp_path: Path, api_url: str, **inat) -> Config:
    """A config in ``tmp_path`` pointing at the stand-in server, with fast rates."""
    cfg = Config(db_path=str(tmp_path / "biodiv.duckdb"), cache_dir=str(tmp_path / "cache"))
    cfg.inaturalist.api_url = api_url
    cfg.inaturalist.per_second = inat.pop("per_second", 200)
    cfg.inaturalist.per_minute = inat.pop("per_minute", 100_000)
    cfg.inaturalist.per_day = inat.pop("per_day", 1_000_000)
    cfg.inaturalist.timeout = inat.pop("timeout", 5)
    cfg.inaturalist.max_retries = inat.pop("max_retries", 3)
    for key, value in inat.items():
        setattr(cfg.inaturalist, key, value)
    return cfg


def make_territory(con, bbox=BBOX) -> None:
    """A territory row and two member communes splitting the bbox, inserted with plain SQL."""
    xmin, ymin, xmax, ymax = bbox
    xmid = (xmin + xmax) / 2
    outline = f"POLYGON(({xmin} {ymin}, {xmax} {ymin}, {xmax} {ymax}, {xmin} {ymax}, {xmin} {ymin}))"
    con.execute(
        "INSERT INTO territory (id, name, epci_siren, insee_codes, geom, xmin, ymin, xmax, ymax) "
        "VALUES (1, 'Test', '000000000', ['99001', '99002'], ST_GeomFromText(?), ?, ?, ?, ?)",
        [outline, xmin, ymin, xmax, ymax],
    )
    for code, x0, x1 in (("99001", xmin, xmid), ("99002", xmid, xmax)):
        poly = f"POLYGON(({x0} {ymin}, {x1} {ymin}, {x1} {ymax}, {x0} {ymax}, {x0} {ymin}))"
        con.execute(
            "INSERT INTO areas (type, code, name, geom, xmin, ymin, xmax, ymax, in_territory) "
            "VALUES ('commune', ?, ?, ST_GeomFromText(?), ?, ?, ?, ?, true)",
            [code, f"Commune {code}", poly, x0, ymin, x1, ymax],
        )


def write_config_file(cfg: Config, path: Path) -> Path:
    return cfg.save(path)


def build_template(directory: Path) -> Path:
    """A migrated database with a territory (built once per module: a store write costs
    about a second); tests copy it into their own config's database path."""
    from biodiv.store.database import Store

    path = directory / "biodiv.duckdb"
    with Store(path).write(create=True) as con:
        make_territory(con)
    return path
