"""The live pages share one reconnecting socket module; in production, where every static file
has a hashed name, each page's module imports it by its hashed name."""

import re
from pathlib import Path

from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
LIVE_MODULES = ["notifications/live.js", "messaging/conversation.js", "consults/thread.js"]


def test_the_live_pages_keep_their_socket_through_the_one_shared_module():
    for name in LIVE_MODULES:
        app = name.split("/")[0]
        source = (ROOT / app / "static" / name).read_text()
        assert 'import { reconnectingSocket } from "../telemed/js/reconnecting.js";' in source, name
        assert "new WebSocket" not in source and "setTimeout(connect" not in source, name


def test_collected_modules_import_the_shared_module_by_its_hashed_name(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "telemed.staticfiles.HashedModulesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)
    shared = staticfiles_storage.stored_name("telemed/js/reconnecting.js")
    assert re.fullmatch(r"telemed/js/reconnecting\.[0-9a-f]{12}\.js", shared)
    for name in LIVE_MODULES:
        hashed = (tmp_path / staticfiles_storage.stored_name(name)).read_text()
        assert f'from "../{shared}"' in hashed, name
