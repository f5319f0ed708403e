"""End-to-end fixtures: the real platform (`manage.py serve`: uvicorn + task worker) started as a
subprocess on the test database, a real SMTP server, and Debian's Chromium driven by Playwright."""

import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest
from django.db import connection

from conftest import SmtpSink, free_port

# Playwright's sync API keeps an event loop in this thread; the ORM calls that the
# tests make between page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    # One server per xdist worker: keep every browser test on the same worker.
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def mailbox():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def live_platform(django_db_setup, django_db_blocker, mailbox, tmp_path_factory):
    """The platform as `make run` starts it, on the test database, until the session ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_POOL": "false",
        "EMAIL_URL": mailbox.url,
        "TELEMED_BASE_URL": base_url,
        "TELEMED_WORKER_INTERVAL": "0.2",
        "TELEMED_VAR_DIR": str(ROOT / "var"),
        "AXES_FAILURE_LIMIT": "50",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the server keeps Django's async-safety checks
    log = open(tmp_path_factory.mktemp("platform") / "serve.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"the platform did not start:\n{log.read()}")
        time.sleep(0.2)
    yield base_url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, live_platform, transactional_db, reference_data):
    """Open a fresh browser context (its own cookies) on the running platform."""
    contexts = []

    def open_page(locale: str = "it-IT", viewport=None):
        context = browser.new_context(base_url=live_platform, locale=locale, viewport=viewport or {"width": 1280, "height": 900})
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def screenshot(page, name: str) -> pathlib.Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
