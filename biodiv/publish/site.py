"""``biodiv publish site``: the public atlas as static files (HTML, CSS, inline SVG, a small
JSON search index), with no server code and no request to any third party.

Why static files: a small intercommunality's website can host files but not GeoNature-atlas
(PostgreSQL, Flask, a foreign-data wrapper, cron). Why pre-aggregated reads: one query per
kind of page (per species × commune, per species × month…), then pages rendered from those
tables, so thousands of species pages cost seconds, not one round of queries each (the same
figures as :mod:`biodiv.dashboard.data`, grouped in bulk; ``tests/test_publish_site.py``
compares a commune page with the named query).

**Public layer.** Every page is public: built from :func:`biodiv.report.sheets.public_filters`
(the filters every public output goes through: :mod:`biodiv.sensitivity.public`), its area
pages from each observation's public place (``links_sql``), aggregated to communes and sites
(never a point), no observer login anywhere but the photo credits their licences require.

**Incremental.** Each page's bytes are compared with the file already in the folder (its
SHA-256 kept in ``.biodiv-site.json``); only pages whose content changed are written, and
pages of species, communes or sites that disappeared are removed. After a ``biodiv update``
that changed one commune's data, only the pages showing that data change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from biodiv.attach.crs import territory_crs
from biodiv.dashboard import data
from biodiv.dashboard.labels import MONTHS_FR, format_int, group_fr
from biodiv.dashboard.maps import colour_classes
from biodiv.errors import BiodivError
from biodiv.report import svgmap
from biodiv.report.sheets import LICENCES, Options, public_filters
from biodiv.sensitivity import public as sensitive

MANIFEST = ".biodiv-site.json"
ATTRIBUTION = "Contours : IGN Admin Express, Etalab · Données : contributeurs iNaturalist"


class SiteError(BiodivError):
    """The site cannot be written there (one line)."""


@dataclass
class Written:
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    pages: int = 0
    bytes: int = 0


def _env() -> Environment:
    env = Environment(loader=PackageLoader("biodiv.publish", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["n"] = format_int
    return env


def _slug(code: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in str(code))


def bars_svg(values: list[int], labels: list[str], title: str, width: int = 420, height: int = 150) -> str:
    """A small bar chart as inline SVG, with its figures in a table for screen readers
    (the caller shows the table): the species pages are thousands, so no JavaScript engine."""
    top = max(values) if values and max(values) > 0 else 1
    n = max(len(values), 1)
    bw = (width - 30) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}">']
    for i, (v, lab) in enumerate(zip(values, labels)):
        h = (height - 30) * v / top
        x = 25 + i * bw
        parts.append(f'<rect x="{x + 2:.1f}" y="{height - 18 - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" '
                     f'fill="#2e7d32"><title>{escape(lab)} : {v}</title></rect>'
                     f'<text x="{x + bw / 2:.1f}" y="{height - 5}" font-size="10" text-anchor="middle" '
                     f'fill="#333">{escape(lab[:4])}</text>')
    parts.append(f'<line x1="24" y1="{height - 18}" x2="{width}" y2="{height - 18}" stroke="#555"/></svg>')
    return "".join(parts)


@dataclass
class _Data:
    info: dict[str, Any]
    figures: dict[str, Any]
    communes: list[dict]             # GeoJSON features of the territory's communes
    commune_obs: dict[int, int]      # area id -> observations
    areas: list[dict]                # communes and sites: id, type, code, name, km2
    species: list[dict]              # one per species: key, names, group, status, counts
    by_species_area: dict[int, dict[int, int]]
    by_species_month: dict[int, list[int]]
    by_area_species: dict[int, list[dict]]
    by_area_month: dict[int, list[int]]
    area_figures: dict[int, dict[str, int]]
    latest: list[dict]
    new_species: list[dict]
    photos: dict[int, dict]          # species key -> photo_url, attribution, licence
    metric_crs: str


def _gather(con: duckdb.DuckDBPyConnection, options: Options) -> _Data:
    f = public_filters(options.filters(), True, options.sensitivity_default)
    sql, params = data.filtered_sql(f)
    base = f"WITH f AS ({sql})"
    info = data.db_info(con)
    species = data.territory_species(con, f)
    area_rows = con.execute(
        "SELECT id, type, code, name, area_km2 FROM areas WHERE (type = 'commune' AND in_territory) "
        "OR (type <> 'commune' AND NOT EXISTS (SELECT 1 FROM territory t WHERE t.xmin IS NOT NULL AND "
        "(areas.xmax < t.xmin OR areas.xmin > t.xmax OR areas.ymax < t.ymin OR areas.ymin > t.ymax))) "
        "ORDER BY type, name").fetchall()
    areas = [dict(zip(("id", "type", "code", "name", "km2"), r)) for r in area_rows]
    ids = [a["id"] for a in areas]
    # each observation's links of its public place (its own when precise, its commune's or its
    # 10 km cell's when blurred, none at levels 3-4): biodiv.sensitivity.public
    rel, on = sensitive.links_sql(f.public, "f")
    links = f"""{base}, l AS (SELECT f.*, oa.area_id FROM f JOIN {rel} oa ON {on}
                            WHERE list_contains(?::INTEGER[], oa.area_id))"""
    by_species_area: dict[int, dict[int, int]] = {}
    for key, area, n in con.execute(f"{links} SELECT species_key, area_id, count(*) FROM l "
                                    "WHERE species_key IS NOT NULL GROUP BY 1, 2", params + [ids]).fetchall():
        by_species_area.setdefault(int(key), {})[int(area)] = int(n)
    by_species_month: dict[int, list[int]] = {}
    for key, month, n in con.execute(f"{base} SELECT species_key, month(observed_on), count(*) FROM f "
                                     "WHERE species_key IS NOT NULL AND observed_on IS NOT NULL GROUP BY 1, 2",
                                     params).fetchall():
        by_species_month.setdefault(int(key), [0] * 12)[int(month) - 1] = int(n)
    by_area_month: dict[int, list[int]] = {}
    for area, month, n in con.execute(f"{links} SELECT area_id, month(observed_on), count(*) FROM l "
                                      "WHERE observed_on IS NOT NULL GROUP BY 1, 2", params + [ids]).fetchall():
        by_area_month.setdefault(int(area), [0] * 12)[int(month) - 1] = int(n)
    area_figures = {int(a): {"observations": int(o), "species": int(s), "observers": int(u)} for a, o, s, u in con.execute(
        f"{links} SELECT area_id, count(*), count(DISTINCT species_key), "
        "count(DISTINCT coalesce(user_id, hash(user_login))) FROM l GROUP BY 1", params + [ids]).fetchall()}
    sp = {int(r.species_key): r for r in species.itertuples()}
    by_area_species: dict[int, list[dict]] = {}
    for key, per_area in by_species_area.items():
        row = sp.get(key)
        if row is None:
            continue
        for area, n in per_area.items():
            by_area_species.setdefault(area, []).append(_species_row(row, n))
    for rows in by_area_species.values():
        rows.sort(key=lambda r: (-r["n"], r["sci"]))
    # the public photo: ``f.photo_url`` is withheld from sensitivity level 1 (the public layer)
    photos = {int(k): {"url": u, "attribution": a, "licence": lic} for k, u, a, lic in con.execute(
        f"""{base} SELECT f.species_key, arg_max(f.photo_url, f.observed_on), arg_max(o.photo_attribution, f.observed_on),
                   arg_max(o.photo_license, f.observed_on)
            FROM f JOIN observations o ON o.id = f.id
            WHERE f.species_key IS NOT NULL AND f.photo_url IS NOT NULL GROUP BY 1""", params).fetchall()}
    latest = [{"date": d.strftime("%d/%m/%Y") if d else "", "fr": fr or "", "sci": sci or "", "key": k}
              for d, fr, sci, k in con.execute(
                  f"{base} SELECT observed_on, common_name_fr, sci_name, species_key FROM f "
                  "ORDER BY observed_on DESC NULLS LAST, id DESC LIMIT 10", params).fetchall()]
    year = datetime.now().year
    new = data.new_species(con, year, f)
    new_species = [{"fr": r.get("common_name_fr") or "", "sci": r.get("sci_name") or "",
                    "key": int(r["species_key"]) if r.get("species_key") is not None else None}
                   for r in new.to_dict("records")][:20]
    return _Data(
        info=info, figures=data.key_figures(con, f), communes=data.area_features(con, "commune")["features"],
        commune_obs={a["id"]: area_figures.get(a["id"], {}).get("observations", 0)
                     for a in areas if a["type"] == "commune"},
        areas=areas, species=[_species_row(r, int(r.observations)) | {"key": int(r.species_key),
                                                                       "protected": bool(r.protected),
                                                                       "threatened": bool(r.threatened),
                                                                       "patrimonial": bool(r.patrimonial),
                                                                       "last": "" if r.last_year != r.last_year
                                                                       or r.last_year is None else int(r.last_year)}
                              for r in species.itertuples()],
        by_species_area=by_species_area, by_species_month=by_species_month, by_area_species=by_area_species,
        by_area_month=by_area_month, area_figures=area_figures, latest=latest, new_species=new_species,
        photos=photos, metric_crs=territory_crs(con))


def _species_row(row, n: int) -> dict:
    return {"key": int(row.species_key), "fr": row.common_name_fr or "", "sci": row.sci_name or "",
            "group": row.group if isinstance(row.group, str) else group_fr(None), "status": row.status or "", "n": n}


def _map(d: _Data, values: dict[int, int], focus_id: int | None = None, extra: list[dict] | None = None,
         title: str = "") -> str:
    colour, legend = colour_classes(values.values())
    layers = [svgmap.Layer(d.communes, svgmap.by_property(values, colour), labels=len(d.communes) <= 60)]
    focus: list[dict] = []
    if focus_id is not None:
        own = [f for f in (extra or d.communes) if f["properties"].get("area_id") == focus_id]
        layers.append(svgmap.Layer(own, lambda f: "none", stroke="#b71c1c", width=2.2))
        focus = own
    spec = svgmap.MapSpec(640, 460, d.metric_crs, legend=legend, legend_title="Observations par commune",
                          attribution=ATTRIBUTION, title=title)
    return svgmap.render(spec, layers, focus=focus)


def _photo(d: _Data, key: int, files: dict[str, bytes]) -> dict | None:
    """The species' photo as a local thumbnail (from the cache `biodiv update` fills), with
    its licence and the credit the licence requires; None when none is cached."""
    from biodiv.inat import photos

    p = d.photos.get(key)
    if not p:
        return None
    cached = photos.cached(p["url"])
    if cached is None:
        return None
    name = f"photos/{cached.name}"
    files[name] = cached.read_bytes()
    return {"src": name, "credit": p["attribution"] or "", "licence": LICENCES.get(str(p["licence"] or "").lower(), "")}


def build_site(con: duckdb.DuckDBPyConnection, out: Path, options: Options = Options()) -> Written:
    """Write (or update) the public atlas in folder ``out``; returns what was written."""
    d = _gather(con, options)
    env = _env()
    territory = d.info.get("territory") or "Territoire"
    today = datetime.now().strftime("%d/%m/%Y")
    updated = d.info.get("last_update")
    notice = sensitive.notice_fr(sensitive.summary(con, options.sensitivity_default))
    common = {"territory": territory, "demo": d.info.get("demo"), "today": today, "notice": notice,
              "updated": updated.strftime("%d/%m/%Y") if updated else "inconnue",
              "quality": options.quality}
    pages: dict[str, str] = {}
    files: dict[str, bytes] = {}
    communes = [a for a in d.areas if a["type"] == "commune"]
    sites = [a for a in d.areas if a["type"] != "commune"]
    site_features = {}
    for a in sites:
        site_features[a["id"]] = data.area_features(con, a["type"], area_id=a["id"])["features"]

    def render(name: str, template: str, depth: int, **ctx: Any) -> None:
        root = "../" * depth
        pages[name] = env.get_template(template).render(root=root, page=name, **common, **ctx)

    fig = d.figures
    render("index.html", "home.html", 0, title=f"Atlas de la biodiversité — {territory}",
           fig=fig, map_svg=_map(d, d.commune_obs), communes=communes, sites=sites,
           commune_obs=d.commune_obs, latest=d.latest, new_species=d.new_species,
           n_species=len(d.species))
    render("especes.html", "species_list.html", 0, title=f"Espèces du territoire — {territory}",
           species=d.species, groups=sorted({s["group"] for s in d.species}))
    render("methodes.html", "methods.html", 0, title="Méthodes, limites et crédits")
    for a in communes + sites:
        folder = "commune" if a["type"] == "commune" else "site"
        rows = d.by_area_species.get(a["id"], [])
        months = d.by_area_month.get(a["id"], [0] * 12)
        render(f"{folder}/{_slug(a['code'])}.html", "area.html", 1, title=f"{a['name']} — {territory}", area=a,
               kind=folder, fig=d.area_figures.get(a["id"], {"observations": 0, "species": 0, "observers": 0}),
               species=rows, months=months, months_fr=MONTHS_FR,
               chart=bars_svg(months, MONTHS_FR, f"Observations par mois : {a['name']}"),
               map_svg=_map(d, d.commune_obs, a["id"], site_features.get(a["id"]) if folder == "site" else None))
    names = {a["id"]: a for a in d.areas}
    for s in d.species:
        per_area = d.by_species_area.get(s["key"], {})
        months = d.by_species_month.get(s["key"], [0] * 12)
        where = sorted(((names[i], n) for i, n in per_area.items() if i in names),
                       key=lambda t: (t[0]["type"] != "commune", t[0]["name"]))
        render(f"espece/{s['key']}.html", "species.html", 1, title=f"{s['fr'] or s['sci']} — {territory}",
               s=s, where=where, months=months, months_fr=MONTHS_FR,
               chart=bars_svg(months, MONTHS_FR, f"Observations par mois : {s['fr'] or s['sci']}"),
               map_svg=_map(d, {i: n for i, n in per_area.items()}), photo=_photo(d, s["key"], files))
    index = [{"t": s["fr"] or s["sci"], "s": s["sci"], "u": f"espece/{s['key']}.html"} for s in d.species]
    index += [{"t": a["name"], "s": a["code"], "u": f"{'commune' if a['type'] == 'commune' else 'site'}/{_slug(a['code'])}.html"}
              for a in communes + sites]
    files["recherche.json"] = json.dumps(index, ensure_ascii=False, separators=(",", ":")).encode()
    files["style.css"] = env.get_template("site.css").render().encode()
    files["recherche.js"] = env.get_template("search.js").render().encode()
    files["sitemap.xml"] = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
                            + "".join(f"<url><loc>{escape(p)}</loc></url>" for p in sorted(pages)) + "</urlset>\n").encode()
    for name, html in pages.items():
        files[name] = html.encode("utf-8")
    return _write(out, files)


def _write(out: Path, files: dict[str, bytes]) -> Written:
    """Write the files whose bytes changed; remove those of the previous build that are gone."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SiteError(f"cannot create the site folder {out}: {exc.strerror}") from None
    manifest_path = out / MANIFEST
    try:
        previous = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    except ValueError:
        previous = {}
    if any(out.iterdir()) and not manifest_path.exists():
        raise SiteError(f"{out} is not empty and was not written by `biodiv publish site`: choose an empty folder")
    result = Written(pages=sum(1 for n in files if n.endswith(".html")))
    digests = {}
    for name, body in sorted(files.items()):
        digest = hashlib.sha256(body).hexdigest()
        digests[name] = digest
        result.bytes += len(body)
        target = out / name
        if previous.get(name) == digest and target.exists():
            result.unchanged += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(body)
        tmp.replace(target)
        result.written.append(name)
    for name in sorted(set(previous) - set(files)):
        (out / name).unlink(missing_ok=True)
        result.removed.append(name)
    (out / MANIFEST).write_text(json.dumps(digests, indent=0, sort_keys=True), encoding="utf-8")
    return result
