"""Installable app (SPEC F7, base): manifest, service worker at the root scope, offline page."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

from flask import Flask

from app.blueprints.pwa.routes import worker_config


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _worker_settings(body: str) -> dict[str, Any]:
    match = re.match(r"self\.PASSERELLE = (\{.*?\});\n", body)
    assert match, body[:200]
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_manifest_makes_the_app_installable(client: Any) -> None:
    response = client.get("/manifest.json")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert response.headers["Cache-Control"] == "no-cache"
    manifest = json.loads(response.data)
    assert manifest["name"] == "Passerelle" and manifest["short_name"]
    assert manifest["lang"] == "fr"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#1f4e79" and manifest["background_color"]
    icons = {(icon["sizes"], icon.get("purpose", "any")): icon for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(icons)
    for (sizes, _purpose), icon in icons.items():
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == icon["type"] == "image/png"
        width, height = _png_size(image.data)
        assert f"{width}x{height}" == sizes


def test_service_worker_is_served_at_the_root_without_caching(client: Any) -> None:
    response = client.get("/service-worker.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Service-Worker-Allowed" not in response.headers  # root scope needs none
    body = response.get_data(as_text=True)
    assert 'addEventListener("fetch"' in body
    etag = response.headers["ETag"]
    assert client.get("/service-worker.js", headers={"If-None-Match": etag}).status_code == 304


def test_service_worker_precaches_the_static_assets_pages_use(client: Any) -> None:
    settings = _worker_settings(client.get("/service-worker.js").get_data(as_text=True))
    assert re.fullmatch(r"[0-9a-f]{12}", settings["version"])
    precache = settings["precache"]
    assets = ["css/app.css", "js/app.js", "js/live.js", "js/pwa.js", "icons/icon-192.png",
              "vendor/htmx-2.0.11.min.js", "vendor/htmx-ext-sse-2.2.4.min.js"]  # fmt: skip
    for asset in assets:
        assert any(url.startswith(f"/static/{asset}?v=") for url in precache), asset
    for url in precache:
        assert client.get(url).status_code == 200, url
    assert client.get(settings["offline"]).status_code == 200


def test_every_page_links_the_manifest_and_registers_the_worker(client: Any) -> None:
    page = client.get("/connexion").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.json">' in page
    assert re.search(r'<script src="/static/js/pwa\.js\?v=[^"]+" defer></script>', page)
    assert re.search(r'<script src="/static/js/live\.js\?v=[^"]+" defer></script>', page)


def test_worker_is_the_same_for_everyone(client: Any, f: Any, login_as: Any) -> None:
    anonymous = client.get("/service-worker.js").data
    teacher = login_as(f.teacher()).get("/service-worker.js").data
    assert anonymous == teacher


def test_offline_page_is_french_and_personal_to_nobody(f: Any, login_as: Any) -> None:
    teacher = f.teacher(first_name="Maëlle", last_name="Quéré")
    response = login_as(teacher).get("/hors-connexion")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Vous êtes hors connexion" in page and 'lang="fr"' in page
    assert "Quéré" not in page and "Se déconnecter" not in page
    assert response.headers["Cache-Control"] == "no-cache"


def test_cache_version_changes_with_any_static_file(tmp_path: Path) -> None:
    static = tmp_path / "static"
    shutil.copytree(Path(__file__).resolve().parents[2] / "app" / "static" / "js", static / "js")

    def version() -> str:
        probe = Flask("probe", static_folder=str(static))
        with probe.test_request_context():
            return str(worker_config(probe)["version"])

    before = version()
    assert version() == before  # stable while nothing changes
    (static / "js" / "app.js").write_text("// changed\n", encoding="utf-8")
    assert version() != before


def test_asset_urls_change_when_the_assets_do(app: Flask, tmp_path: Path) -> None:
    from app import create_app
    from tests.conftest import _test_config

    assert re.fullmatch(r"[0-9a-f]{10}", app.config["ASSET_VERSION"])  # derived from content
    pinned = create_app(**_test_config(tmp_path, ASSET_VERSION="2026.06"))
    assert pinned.config["ASSET_VERSION"] == "2026.06"  # an explicit release number wins
