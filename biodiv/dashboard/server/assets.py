"""Leaflet served from this machine, so maps draw with no internet (a workshop's Wi-Fi may be down).

Why: folium links Leaflet, jQuery and Bootstrap from CDNs; offline the map iframe stays
empty. The files are fetched once from the npm registry (``npm pack``, never committed)
into a per-user folder (:func:`static_dir`: ``~/.local/share/biodiv/static`` on Linux,
``$BIODIV_STATIC_DIR`` if set), never into the installed package, whose folder may be
read-only and is replaced by every upgrade. The dashboard's server serves that folder at
``/app/static/`` (:func:`static_route`, a route of Streamlit's own app, where Streamlit
would serve a ``static/`` folder beside its script), so the URLs are Streamlit's usual ones.
:func:`localize` then rewrites every folium element's CDN links to those URLs and drops
the ones the dashboard does not use (jQuery, Bootstrap, Awesome Markers: we only draw
CircleMarkers and GeoJSON).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import folium
from branca.element import Element

from biodiv.errors import BiodivError

STATIC_ENV = "BIODIV_STATIC_DIR"
STATIC_ROUTE = "app/static"                 # the URL path Streamlit gives an app's static files
STATIC_URL = f"{STATIC_ROUTE}/vendor"       # the Leaflet files, under static_dir()/vendor

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


def static_dir() -> Path:
    """The per-user folder served at ``/app/static/``: ``$BIODIV_STATIC_DIR``, else
    platformdirs' user data folder for biodiv (``~/.local/share/biodiv/static`` on Linux).
    Data rather than cache: the maps need these files offline, when they cannot be fetched
    again."""
    env = os.environ.get(STATIC_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("biodiv", appauthor=False)) / "static"


def default_vendor_dir() -> Path:
    """Where the Leaflet files go: ``vendor/`` in :func:`static_dir`."""
    return static_dir() / "vendor"


def static_route(base_url: str = ""):
    """The route that serves :func:`static_dir` at ``<base_url>/app/static/`` (Starlette's
    ``StaticFiles``: path checks, ETag and Last-Modified, 304s), for ``st.App(routes=...)``.
    Inside Streamlit's middleware, so its gzip compresses Leaflet's JavaScript as it did."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    base = base_url.strip("/")
    path = f"/{base}/{STATIC_ROUTE}" if base else f"/{STATIC_ROUTE}"
    # check_dir=False: the folder may appear after start (biodiv dashboard --install-assets)
    return Mount(path, app=StaticFiles(directory=static_dir(), check_dir=False), name="biodiv-static")


def assets_installed(vendor_dir: Path | None = None) -> bool:
    vendor_dir = vendor_dir or default_vendor_dir()
    return all(
        (vendor_dir / name / dest).is_file()
        for name, (_, files) in NPM_ASSETS.items()
        for dest in files.values()
    )


def install_assets(vendor_dir: Path | None = None, npm: str = "npm", force: bool = False) -> list[Path]:
    """Fetch the Leaflet files with ``npm pack`` into ``vendor_dir`` (default:
    :func:`default_vendor_dir`; idempotent)."""
    vendor_dir = vendor_dir or default_vendor_dir()
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
                    _write(out, src.read())
                    written.append(out)
    return written


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (an interrupted install leaves no half file that
    :func:`assets_installed` would take for a good one)."""
    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(data)
        part.replace(path)
    except OSError as exc:
        try:
            part.unlink(missing_ok=True)
        except OSError:
            pass
        raise BiodivError(
            f"cannot write {path}: {exc.strerror or exc}; set ${STATIC_ENV} to a writable folder"
        ) from None


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
