"""The HTML blocks of Mode atelier (pages/atelier.py), as pure functions of what ``data``
returned, so that what the room reads is tested without a browser: sizes for a 1920×1080
projector read from 5 m (no text under 28 px), photos from the local cache (``photos``),
no observer name anywhere.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime
from typing import Any

import pandas as pd

from biodiv.inat import photos
from biodiv.dashboard.labels import format_date

MAP_HEIGHT = 540           # with the figures above and the footer: one 1080 px screen
LATEST_ROWS = 3             # with the heading, the new-species line and the legend: the map's height
THUMB_PX = 96
MIN_TEXT_PX = 28
# commune names on the map at the screen's minimum size: those that would overlap a larger
# commune's are hidden by the map itself (maps.add_names), never drawn over each other
MAP_NAMES_PX = MIN_TEXT_PX

STYLE = f"""<style>
header[data-testid="stHeader"], [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stToolbar"], [data-testid="stDecoration"] {{display:none !important}}
[data-testid="stMainBlockContainer"] {{padding:6px 28px 0 !important; max-width:100% !important}}
[data-testid="stMain"] {{overflow:hidden}}
[data-testid="stMainBlockContainer"] h1 {{font-size:46px !important; padding:0 0 4px !important; line-height:1.15}}
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li,
[data-testid="stPopover"] button p {{font-size:{MIN_TEXT_PX}px !important}}
[data-testid="stVerticalBlock"] {{gap:.45rem}}
.biodiv-row {{gap:4.5rem !important}} .biodiv-big .v {{font-size:72px !important}} .biodiv-big .l {{font-size:{MIN_TEXT_PX + 2}px !important}}
.atl-h {{font-size:34px; font-weight:700; margin:0 0 6px}}
.atl-obs {{display:flex; gap:16px; align-items:center; margin:0 0 10px; font-size:{MIN_TEXT_PX}px; line-height:1.2}}
.atl-obs img, .atl-tile {{width:{THUMB_PX}px; height:{THUMB_PX}px; border-radius:8px; object-fit:cover; flex:none}}
.atl-tile {{background:#e8f5e9; color:#2e7d32; display:flex; align-items:center; justify-content:center;
           font-size:44px; font-weight:700}}
.atl-obs > div {{min-width:0}}
.atl-name {{font-weight:700; font-size:{MIN_TEXT_PX + 4}px; display:flex; flex-wrap:wrap; align-items:center; overflow-wrap:anywhere}}
.atl-new {{background:#fff3cd; border-left:8px solid #e6a700; padding:4px 8px; border-radius:6px}}
.atl-badge {{background:#e6a700; color:#000; border-radius:6px; padding:0 8px; font-size:{MIN_TEXT_PX}px;
            font-weight:700; margin-left:6px}}
.atl-note, .atl-foot {{font-size:{MIN_TEXT_PX}px; color:#333}}
.atl-fail {{font-size:{MIN_TEXT_PX}px; color:#fff; background:#b00020; padding:2px 10px; border-radius:6px}}
.atl-line {{white-space:nowrap; overflow:hidden; text-overflow:ellipsis; line-height:1.3}}
.atl-legend {{display:flex; flex-wrap:wrap; gap:4px 18px; font-size:{MIN_TEXT_PX}px; line-height:1.2}}
.atl-legend span {{white-space:nowrap}}
.atl-legend i {{display:inline-block; width:30px; height:22px; margin-right:6px; vertical-align:-3px;
               border:1px solid #555}}
.atl-qr svg {{width:170px; height:170px}} .atl-qr div {{font-size:{MIN_TEXT_PX}px; text-align:center}}
</style>"""


def _thumb(row: dict[str, Any]) -> str:
    path = photos.cached(row.get("photo_url"))
    if path is not None:
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<img src="data:image/jpeg;base64,{data}" alt="">'
    group = str(row.get("group") or "?")
    return f'<div class="atl-tile" title="{html.escape(group)}">{html.escape(group[:1])}</div>'


def latest_block(latest: pd.DataFrame, new_keys: set, n: int = 5) -> str:
    """The ``n`` latest observations, one per species, photos first; a new species for the
    territory is highlighted. No observer is named."""
    rows = latest.to_dict("records")
    seen, picked = set(), []
    for r in rows:
        key = r.get("species_key")
        key = None if key is None or pd.isna(key) else int(key)
        if key is not None and key in seen:
            continue
        seen.add(key)
        picked.append(r)
        if len(picked) == n:
            break
    out = ['<div class="atl-h">Dernières observations</div>']
    for r in picked:
        key = r.get("species_key")
        is_new = key is not None and not pd.isna(key) and int(key) in new_keys
        name = html.escape(str(r.get("common_name_fr") or r.get("sci_name") or "taxon inconnu"))
        sci = html.escape(str(r.get("sci_name") or ""))
        where = " · localisation floutée" if r.get("obscured") else ""
        badge = '<span class="atl-badge">nouvelle espèce !</span>' if is_new else ""
        out.append(f'<div class="atl-obs{" atl-new" if is_new else ""}">{_thumb(r)}<div>'
                   f'<div class="atl-name">{name}{badge}</div><div><i>{sci}</i></div>'
                   f'<div>{format_date(r.get("observed_on"))} · {html.escape(str(r.get("group") or ""))}{where}</div>'
                   "</div></div>")
    if not picked:
        out.append('<div class="atl-note">Aucune observation pour l\'instant.</div>')
    return "".join(out)


def new_species_block(new: pd.DataFrame, label: str, n: int = 4) -> str:
    """One line naming the newest species for the territory (the figure above counts them)."""
    if new.empty:
        return f'<div class="atl-note">Aucune {html.escape(label.replace("nouvelles espèces", "nouvelle espèce"))} pour l\'instant.</div>'
    names = [html.escape(str(r["common_name_fr"] or r["sci_name"])) for r in new.head(n).to_dict("records")]
    more = f" et {len(new) - n} autres" if len(new) > n else ""
    if len(new) == 1:
        label = label.replace("nouvelles espèces", "nouvelle espèce")
    return (f'<div class="atl-new atl-note"><b>{html.escape(label[:1].upper() + label[1:])} :</b> '
            f'{", ".join(names)}{more}</div>')


def qr_target(cfg) -> str | None:
    """The iNaturalist page people join from: the project, else the place, else none."""
    if cfg.inaturalist.project_id:
        return f"https://www.inaturalist.org/projects/{cfg.inaturalist.project_id}"
    if cfg.inaturalist.place_id:
        return f"https://www.inaturalist.org/places/{cfg.inaturalist.place_id}"
    return None


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG (segno: offline, no image file)."""
    import io

    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                    dark="#000", light="#fff")
    return buf.getvalue().decode()


def qr_block(cfg) -> str:
    url = qr_target(cfg)
    if url is None:
        return ""
    what = "le projet" if cfg.inaturalist.project_id else "le lieu"
    return f'<div class="atl-qr">{qr_svg(url)}<div>Rejoignez {what} iNaturalist</div></div>'


def legend_block(title: str, classes: list[tuple[str, str]], outlines: list[tuple[str, str]]) -> str:
    """The map's legend beside the map (never over the territory), at the screen's text size."""
    rows = [f'<div class="atl-h">{html.escape(title)}</div><div class="atl-legend">']
    for colour, label in classes:
        rows.append(f'<span><i style="background:{html.escape(colour)}"></i>{html.escape(label)}</span>')
    for colour, label in outlines:
        rows.append(f'<span><i style="border:3px dashed {html.escape(colour)};background:none"></i>'
                    f'{html.escape(label)}</span>')
    return "".join(rows) + "</div>"


def footer(ok: str, failed: str | None, refresh_s: int, now: datetime, quality: str = "") -> str:
    """One line, in every state (ok, failing, recovering): a failure is a short French phrase in
    red at its start, the rest cut with an ellipsis rather than wrapped (the screen never grows)."""
    lead = f"{html.escape(quality)} · " if quality else ""
    fail = f'<span class="atl-fail">{html.escape(failed)}</span> ' if failed else ""
    return (f'<div class="atl-line">{fail}<span class="atl-foot">{lead}{html.escape(ok)} · écran actualisé '
            f"toutes les {refresh_s} s (affiché à {now:%H:%M:%S})</span></div>")
