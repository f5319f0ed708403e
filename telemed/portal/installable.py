"""telemed as an app on the home screen: the web app manifest, the icons, and what the service
worker may keep for when the device is offline.

Rules:
- The icons are the favicon's design (telemed/static/telemed/favicon.svg: a white cross on the
  brand colour, 32 units square, corners of 7), drawn by ``icon`` with Pillow and committed as
  PNGs (``manage.py app_icons`` writes them; a test checks they are what the code draws).
  "any" icons keep the favicon's rounded corners; maskable ones and Apple's fill the square,
  because the system cuts its own shape, and the cross lies well inside the 80 % safe zone.
- The service worker keeps only the offline page and the few static files it shows
  (``PRECACHE``). Pages, API answers and files are never stored: they go to the network, and
  a page that cannot be reached while offline is answered with the offline page.
- The offline page is fetched without cookies and shows nothing of anyone.
- Its cache is named after a digest of what it holds, so a new deployment (new static names,
  a changed offline page) replaces it at the next visit.
"""

import hashlib
import json

from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw

BRAND = "#0b5f6b"  # site.css --brand
WASH = "#f3f6f9"  # site.css --wash, the page background
# (file name, size in pixels, purpose): the manifest's icons, then Apple's.
ICONS = (
    ("icon-192.png", 192, "any"),
    ("icon-512.png", 512, "any"),
    ("icon-maskable-192.png", 192, "maskable"),
    ("icon-maskable-512.png", 512, "maskable"),
)
APPLE_TOUCH_ICON = ("apple-touch-icon.png", 180, "apple")
ICON_DIR = "telemed/icons"

# The favicon's geometry, in its 32-unit square: the two bars of the cross, and the corner radius.
_CROSS = ((13, 7, 19, 25), (7, 13, 25, 19))
_RADIUS = 7
_OVERSAMPLE = 4  # drawn larger, then scaled down: smooth edges without any anti-aliasing API


def icon(size: int, purpose: str) -> Image.Image:
    """The icon at ``size`` pixels for ``purpose`` ("any", "maskable" or "apple")."""
    big = size * _OVERSAMPLE
    unit = big / 32
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    if purpose == "any":
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(_RADIUS * unit), fill=BRAND)
    else:
        draw.rectangle((0, 0, big - 1, big - 1), fill=BRAND)
    for left, top, right, bottom in _CROSS:
        draw.rectangle(
            (round(left * unit), round(top * unit), round(right * unit) - 1, round(bottom * unit) - 1), fill="#ffffff"
        )
    image = canvas.resize((size, size), Image.Resampling.LANCZOS)
    # Apple's icon is shown on its own background: no transparency in it.
    return image.convert("RGB") if purpose == "apple" else image


def icon_url(name: str) -> str:
    return static(f"{ICON_DIR}/{name}")


def manifest() -> dict:
    """The web app manifest (in the active language)."""
    return {
        "id": "/",
        "name": "telemed",
        "short_name": "telemed",
        "description": _("Remote consults, video visits and your medical records, with doctors registered in Italy."),
        "lang": get_language(),
        "start_url": reverse("portal:dashboard"),
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": BRAND,
        "background_color": WASH,
        "icons": [
            {"src": icon_url(name), "sizes": f"{size}x{size}", "type": "image/png", "purpose": purpose}
            for name, size, purpose in ICONS
        ],
    }


def precache() -> list[str]:
    """What the service worker keeps: the offline page and the static files it shows."""
    return [
        reverse("portal:offline"),
        static("telemed/css/site.css"),
        static("telemed/favicon.svg"),
        icon_url("icon-192.png"),
    ]


def cache_version(urls: list[str], offline_page: bytes) -> str:
    """A digest of what the cache holds: it changes whenever a file name or the page changes."""
    digest = hashlib.sha256(json.dumps(urls).encode())
    digest.update(offline_page)
    return digest.hexdigest()[:16]
