"""Fiche espèce shows its photo from the local cache only (issue 26 item 3): the thumbnail
`biodiv update` cached, served by the dashboard itself, and no image asked of the internet
when none is cached."""

from __future__ import annotations

from biodiv.inat import photos
from biodiv.store.database import Store
from test_dashboard_app import PAGES, app_for, fixture_db, maps_shown  # noqa: F401  (fixtures)


def _images(at) -> list[str]:
    """The URLs of the images the page shows (Streamlit's ``imgs`` elements, any depth)."""
    def walk(node):
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", "") in ("imgs", "image"):
                yield from (img.url for img in child.proto.imgs)
            yield from walk(child)
    return list(walk(at.main))


def test_species_photo_comes_from_the_cache_or_not_at_all(monkeypatch, tmp_path, fixture_db, maps_shown):
    cache = tmp_path / "photos"
    monkeypatch.setenv("BIODIV_PHOTO_DIR", str(cache))
    from biodiv.dashboard import data

    with Store(fixture_db).read() as con:
        url = data.species_info(con, 6)["photo_url"]       # the photo the sheet shows
    assert url.startswith("http")
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_espece.py").run()
    at.selectbox(key="species_sheet").set_value(6).run()
    assert not at.exception
    assert not [u for u in _images(at) if u.startswith("http")]          # nothing from the internet
    assert "Pas de photo disponible hors ligne." in [c.value for c in at.caption]
    # once cached (as `biodiv update` does), the local thumbnail is shown
    target = photos._file_for(url, cache)
    target.parent.mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (75, 75), (40, 120, 40)).save(target, "JPEG")
    at.run()
    assert not at.exception
    shown = _images(at)
    assert shown and not [u for u in shown if u.startswith("http")], shown


def test_a_damaged_cached_photo_does_not_break_the_sheet(monkeypatch, tmp_path, fixture_db, maps_shown):
    from biodiv.dashboard import data

    cache = tmp_path / "photos"
    monkeypatch.setenv("BIODIV_PHOTO_DIR", str(cache))
    with Store(fixture_db).read() as con:
        url = data.species_info(con, 6)["photo_url"]
    target = photos._file_for(url, cache)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\xff\xd8 not a picture")
    at = app_for(monkeypatch, tmp_path, fixture_db).run()
    at.switch_page(PAGES + "fiche_espece.py").run()
    at.selectbox(key="species_sheet").set_value(6).run()
    assert not at.exception
    assert "Pas de photo disponible hors ligne." in [c.value for c in at.caption]
