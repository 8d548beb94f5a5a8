"""Leaflet served from this machine, so maps draw with no internet (a workshop's Wi-Fi may be down).

Why: folium links Leaflet, jQuery and Bootstrap from CDNs; offline the map iframe stays
empty. The files are fetched once from the npm registry (``npm pack``, never committed:
``static/vendor/`` is git-ignored) and served by Streamlit's static file server
(``.streamlit/config.toml``: ``enableStaticServing``) at ``/app/static/vendor/...``.
:func:`localize` then rewrites every folium element's CDN links to those URLs and drops
the ones the dashboard does not use (jQuery, Bootstrap, Awesome Markers: we only draw
CircleMarkers and GeoJSON).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import folium
from branca.element import Element

from biodiv.errors import BiodivError

PROJECT_DIR = Path(__file__).resolve().parents[3]   # where app.py and static/ live
VENDOR_DIR = PROJECT_DIR / "static" / "vendor"
STATIC_URL = "app/static/vendor"                    # Streamlit serves ./static at /app/static

# npm package -> files copied from its tarball (paths inside the tarball -> under vendor/<name>/)
NPM_ASSETS: dict[str, tuple[str, dict[str, str]]] = {
    "leaflet": ("1.9.3", {
        "package/dist/leaflet.js": "leaflet.js",
        "package/dist/leaflet.css": "leaflet.css",
        "package/dist/images/layers.png": "images/layers.png",
        "package/dist/images/layers-2x.png": "images/layers-2x.png",
        "package/dist/images/marker-icon.png": "images/marker-icon.png",
        "package/dist/images/marker-icon-2x.png": "images/marker-icon-2x.png",
        "package/dist/images/marker-shadow.png": "images/marker-shadow.png",
    }),
}


def assets_installed(vendor_dir: Path = VENDOR_DIR) -> bool:
    return all(
        (vendor_dir / name / dest).is_file()
        for name, (_, files) in NPM_ASSETS.items()
        for dest in files.values()
    )


def install_assets(vendor_dir: Path = VENDOR_DIR, npm: str = "npm", force: bool = False) -> list[Path]:
    """Fetch the Leaflet files with ``npm pack`` into ``vendor_dir`` (idempotent)."""
    if assets_installed(vendor_dir) and not force:
        return []
    if shutil.which(npm) is None:
        raise BiodivError(
            f"`{npm}` not found: install Node.js/npm (apt-get install npm) to fetch the Leaflet files"
        )
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, files) in NPM_ASSETS.items():
            proc = subprocess.run(
                [npm, "pack", f"{name}@{version}", "--pack-destination", tmp, "--silent"],
                capture_output=True, text=True, timeout=300,
            )
            tgz = Path(tmp) / f"{name}-{version}.tgz"
            if proc.returncode != 0 or not tgz.exists():
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise BiodivError(f"npm pack {name}@{version} failed: {last}")
            target = vendor_dir / name
            with tarfile.open(tgz) as tar:
                for member, dest in files.items():
                    src = tar.extractfile(member)
                    if src is None:
                        raise BiodivError(f"{member} missing from {tgz.name}")
                    out = target / dest
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(src.read())
                    written.append(out)
    return written


def local_js_css(base_url: str = "/" + STATIC_URL) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    js = [("leaflet", f"{base_url}/leaflet/leaflet.js")]
    css = [("leaflet_css", f"{base_url}/leaflet/leaflet.css")]
    return js, css


def localize(m: folium.Map, base_url: str = "/" + STATIC_URL) -> folium.Map:
    """Point every element of ``m`` at the local Leaflet files; drop other CDN assets.

    A relative ``base_url`` (no scheme) keeps the map working behind any host name.
    """
    js, css = local_js_css(base_url)
    local = dict(js + css)

    def visit(el) -> None:
        if hasattr(el, "default_js"):
            el.default_js = [(k, local[k]) for k, _ in el.default_js if k in local]
        if hasattr(el, "default_css"):
            el.default_css = [(k, local[k]) for k, _ in el.default_css if k in local]
        for child in list(getattr(el, "_children", {}).values()):
            visit(child)

    visit(m)
    # Leaflet looks for its layer-control icons next to its CSS: served there too.
    m.get_root().header.add_child(Element(
        f"<style>.leaflet-control-layers-toggle{{background-image:url({base_url}/leaflet/images/layers.png)}}</style>"
    ), name="biodiv_local_assets")
    return m
