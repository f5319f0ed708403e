"""The installable app's files: manifest, icons, service worker, offline page."""

import json
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from PIL import Image, ImageChops

from conftest import log_in
from telemed.portal import installable

pytestmark = pytest.mark.django_db


def test_the_manifest_describes_an_installable_app(client):
    response = client.get("/manifest.webmanifest", HTTP_ACCEPT_LANGUAGE="it")
    assert response.status_code == 200 and response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert (manifest["name"], manifest["short_name"], manifest["display"]) == ("telemed", "telemed", "standalone")
    assert (manifest["start_url"], manifest["scope"], manifest["lang"]) == ("/dashboard/", "/", "it")
    assert (manifest["theme_color"], manifest["background_color"]) == ("#0b5f6b", "#f3f6f9")
    assert {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]} == {
        ("192x192", "any"), ("512x512", "any"), ("192x192", "maskable"), ("512x512", "maskable"),
    }  # fmt: skip


def test_the_colours_are_the_stylesheet_s():
    css = Path(finders.find("telemed/css/site.css")).read_text()
    assert f"--brand: {installable.BRAND};" in css and f"--wash: {installable.WASH};" in css


@pytest.mark.parametrize("name,size,purpose", [*installable.ICONS, installable.APPLE_TOUCH_ICON])
def test_the_committed_icons_are_what_the_code_draws(name, size, purpose):
    """`manage.py app_icons` draws them; a changed design needs the command run again."""
    committed = Image.open(finders.find(f"{installable.ICON_DIR}/{name}"))
    drawn = installable.icon(size, purpose)
    assert committed.size == (size, size) and committed.mode == drawn.mode
    assert ImageChops.difference(committed, drawn).getbbox() is None
    if purpose != "any":  # maskable and Apple's: the square filled to the edges
        assert drawn.convert("RGBA").getpixel((0, 0))[3] == 255


def test_the_service_worker_is_served_from_the_root_and_keeps_only_the_offline_page(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/" and "no-cache" in response["Cache-Control"]
    script = response.content.decode()
    precache = installable.precache()
    assert f"const PRECACHE = {json.dumps(precache)};" in script
    assert precache[0] == "/offline/" and all(url.startswith("/static/") for url in precache[1:])
    for event in ("install", "activate", "fetch", "push", "notificationclick"):
        assert f'addEventListener("{event}"' in script
    # A new offline page or new static names give a new cache name, so the old one is dropped.
    assert installable.cache_version(precache, b"a") != installable.cache_version(precache, b"b")


def test_the_offline_page_names_no_one_and_the_app_files_open_before_the_second_factor(make_doctor):
    doctor = make_doctor(first_name="Ippolita")
    half_logged_in = Client()
    half_logged_in.force_login(doctor)  # password given, authenticator code not yet
    for url in ("/manifest.webmanifest", "/sw.js", "/offline/"):
        assert half_logged_in.get(url).status_code == 200, url
    assert half_logged_in.get("/dashboard/").status_code == 302
    page = log_in(Client(), doctor).get("/offline/").content.decode()
    assert "Ippolita" not in page and 'data-testid="offline-page"' in page


def test_every_page_links_the_manifest_and_registers_the_worker(client):
    page = client.get("/").content.decode()
    assert 'rel="manifest" href="/manifest.webmanifest"' in page
    assert 'rel="apple-touch-icon"' in page and 'name="theme-color" content="#0b5f6b"' in page
    assert "telemed/js/installable.js" in page
