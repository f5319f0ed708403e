"""End-to-end fixtures: the real platform (`manage.py serve`: uvicorn + task worker) started as a
subprocess on the test database, a real SMTP server, and Debian's Chromium driven by Playwright."""

import os
import pathlib

import pytest
from playwright.sync_api import expect

from conftest import ROOT, SmtpSink, database_url_for_subprocesses, free_port, platform_process

# Playwright's sync API keeps an event loop in this thread; the ORM calls that the
# tests make between page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# An assertion waits as long as an action does (15 s, ``new_page``): Playwright's own 5 s is short
# for a page whose server shares a loaded CI machine's two cores with the tests and Chromium.
expect.set_options(timeout=15_000)

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


@pytest.fixture(scope="session")
def mailbox():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def live_platform(django_db_setup, django_db_blocker, mailbox):
    """The platform as `make run` starts it, on the test database, until the session ends."""
    with django_db_blocker.unblock():
        database_url = database_url_for_subprocesses()
    env = {
        "DATABASE_URL": database_url,
        "EMAIL_URL": mailbox.url,
        "TELEMED_WORKER_INTERVAL": "0.2",
        "TELEMED_VAR_DIR": str(ROOT / "var"),
        "AXES_FAILURE_LIMIT": "50",
    }
    with platform_process(port=free_port(), env=env) as base_url:
        yield base_url


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
        context = browser.new_context(
            base_url=live_platform, locale=locale, viewport=viewport or {"width": 1280, "height": 900}
        )
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


def off_the_loop(function, *args, **kwargs):
    """Run ``function`` in a plain thread. Services push to the channel layer with async_to_sync,
    which refuses to run in this thread, where Playwright keeps its event loop."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import close_old_connections

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def next_authenticator_code(email: str) -> str:
    """The code of the step right after the last one the account's authenticator accepted.

    A fixed "one step ahead" is not enough: if a 30-second boundary falls between the test
    computing a code and the server checking it, django-otp accepts it at offset -1 and moves
    the device's drift, so "now + 1" can fall outside the window. The step after ``last_t`` is
    always inside it (a few seconds later) and is never a replay."""
    from django_otp.oath import hotp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = off_the_loop(lambda: TOTPDevice.objects.get(user__email__iexact=email, confirmed=True))
    return f"{hotp(device.bin_key, device.last_t + 1):06d}"
