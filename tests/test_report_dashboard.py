"""The sheets' « Télécharger la fiche (PDF) » and « Télécharger la carte (PNG) » as an officer
uses them: a real Streamlit server, headless Chromium with no network, a click, the file
the browser saves."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers_dashboard import build_fixture_db

pytestmark = pytest.mark.browser




def test_sheet_buttons_download_the_printed_sheet_and_its_map(tmp_path, monkeypatch, browser_ready):
    from helpers_browser import chromium, new_context, streamlit_server

    db = build_fixture_db(tmp_path / "fixture.duckdb")
    monkeypatch.delenv("BIODIV_CONFIG", raising=False)
    with streamlit_server(db, log_dir=tmp_path) as server, chromium() as browser:
        context = new_context(browser)
        page = context.new_page()
        page.goto(f"{server.url}/fiche-commune?commune=T0001")
        button = page.get_by_role("button", name="Télécharger la fiche (PDF)")
        button.wait_for(timeout=60_000)
        with page.expect_download(timeout=60_000) as got:
            button.click()
        pdf = tmp_path / "sheet.pdf"
        got.value.save_as(pdf)
        with page.expect_download(timeout=60_000) as got:
            page.get_by_role("button", name="Télécharger la carte (PNG)").click()
        png = tmp_path / "map.png"
        got.value.save_as(png)
        png_name = got.value.suggested_filename
        blocked = [u for u in context.blocked if not u.startswith(server.url)]
        context.close()
    assert png_name == "carte-commune-T0001.png"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert blocked == []                                  # nothing asked of the internet
    if shutil.which("pdftotext"):
        text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split())
        assert "Alpha" in text and "Fiche commune (INSEE T0001)" in text and "Document public" in text
