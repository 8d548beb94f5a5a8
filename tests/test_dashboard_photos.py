"""Photo thumbnails for Mode atelier: downloaded at update time from a local stand-in of
iNaturalist's photo server (real HTTP on 127.0.0.1), read from the cache by the page."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from biodiv.dashboard import atelier
from biodiv.inat import photos


def jpeg(size=75) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (46, 125, 50)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


@pytest.fixture
def photo_server():
    """Serves /photos/<n>/square.jpg (a real 75×75 JPEG), /big/square.jpg (too large),
    /html/square.jpg (not an image); everything else 404. Records the paths asked."""
    asked: list[str] = []
    square = jpeg()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            if self.path.startswith("/photos/") and self.path.endswith("/square.jpg"):
                body, ctype = square, "image/jpeg"
            elif self.path == "/big/square.jpg":
                body, ctype = b"\xff" * (photos.MAX_BYTES + 10), "image/jpeg"
            elif self.path == "/html/square.jpg":
                body, ctype = b"<html>login</html>", "text/html"
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()


def test_square_url_of_any_size():
    assert photos.square_url("https://x/photos/1/medium.jpeg") == "https://x/photos/1/square.jpeg"
    assert photos.square_url("https://x/photos/1/original.JPG?123") == "https://x/photos/1/square.JPG"
    assert photos.square_url("https://x/photos/1/square.jpg") == "https://x/photos/1/square.jpg"


def test_download_caches_each_thumbnail_once_and_refuses_what_is_not_one(tmp_path, photo_server):
    base, asked = photo_server
    urls = [f"{base}/photos/{i}/medium.jpg" for i in range(3)] + [f"{base}/big/medium.jpg", f"{base}/html/small.jpg"]
    got = photos.download(urls, tmp_path / "cache")
    assert got == {"fetched": 3, "cached": 0, "failed": 2}
    assert asked[:3] == [f"/photos/{i}/square.jpg" for i in range(3)]     # the square size only
    for u in urls[:3]:
        path = photos.cached(u, tmp_path / "cache")
        assert path is not None and path.read_bytes() == jpeg()
        assert path.stat().st_size < 10_000                               # a few KB
    assert photos.cached(urls[3], tmp_path / "cache") is None and photos.cached(urls[4], tmp_path / "cache") is None
    assert not list((tmp_path / "cache").glob("*.part"))
    asked.clear()
    again = photos.download(urls[:3], tmp_path / "cache")
    assert again == {"fetched": 0, "cached": 3, "failed": 0} and asked == []   # no request when cached


def test_no_network_costs_two_attempts_and_no_directory(tmp_path):
    urls = [f"http://127.0.0.1:9/photos/{i}/square.jpg" for i in range(20)]   # closed port
    got = photos.download(urls, tmp_path / "cache")
    assert got["failed"] == photos.STOP_AFTER_FAILURES and got["fetched"] == 0
    assert not (tmp_path / "cache").exists()


def test_cache_keeps_the_newest(tmp_path, photo_server, monkeypatch):
    base, _ = photo_server
    monkeypatch.setattr(photos, "KEEP", 3)
    photos.download([f"{base}/photos/{i}/square.jpg" for i in range(3)], tmp_path)
    photos.download([f"{base}/photos/{i}/square.jpg" for i in range(10, 13)], tmp_path)
    assert len(list(tmp_path.glob("*.jpg"))) == 3
    assert photos.cached(f"{base}/photos/12/square.jpg", tmp_path) is not None
    assert photos.cached(f"{base}/photos/0/square.jpg", tmp_path) is None


def test_workshop_list_shows_cached_photos_and_names_no_observer(tmp_path, photo_server, monkeypatch):
    base, _ = photo_server
    monkeypatch.setenv("BIODIV_PHOTO_DIR", str(tmp_path))
    url = f"{base}/photos/7/medium.jpg"
    photos.download([url])
    latest = pd.DataFrame([
        {"species_key": 4, "common_name_fr": "Machaon", "sci_name": "Papilio machaon", "group": "Insectes",
         "observed_on": pd.Timestamp("2026-06-01"), "photo_url": url, "obscured": False, "user_login": "dave"},
        {"species_key": 4, "common_name_fr": "Machaon", "sci_name": "Papilio machaon", "group": "Insectes",
         "observed_on": pd.Timestamp("2026-05-01"), "photo_url": None, "obscured": False, "user_login": "erin"},
        {"species_key": 1, "common_name_fr": "Guêpier d'Europe", "sci_name": "Merops apiaster", "group": "Oiseaux",
         "observed_on": pd.Timestamp("2026-04-01"), "photo_url": None, "obscured": True, "user_login": "alice"},
    ])
    out = atelier.latest_block(latest, {4})
    assert out.count('<img src="data:image/jpeg;base64,') == 1
    assert out.count("Machaon</div>") + out.count("Machaon<span") == 1        # one row per species
    assert "nouvelle espèce !" in out and "localisation floutée" in out and "01/06/2026" in out
    assert "dave" not in out and "alice" not in out and "erin" not in out
    assert '<div class="atl-tile" title="Oiseaux">O</div>' in out


def test_update_caches_the_latest_photos(tmp_path, photo_server, monkeypatch):
    """`biodiv update`'s last step, on a real store whose photo URLs point at the stand-in."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers_dashboard import build_fixture_db

    from biodiv.store.database import Store

    base, asked = photo_server
    db = build_fixture_db(tmp_path / "fx.duckdb")
    with Store(db).write() as con:
        con.execute("UPDATE observations SET photo_url = ? || '/photos/' || id || '/medium.jpg'", [base])
    with Store(db).read() as con:
        urls = photos.latest_photo_urls(con)
    assert len(urls) == 9          # in the territory, not removed, verifiable (casual 12 left out)
    got = photos.download(urls, tmp_path / "cache")
    assert got["fetched"] == 9 and photos.cached(urls[0], tmp_path / "cache") is not None
