"""Every page each demo role reaches fits a 375 px phone and a 1280 px desktop.

For each role (a visitor and the five demo accounts) one logged-in browser context crawls the
navigation, the links of the dashboard and the main detail pages (a consult, a visit and its
room, a conversation, a payment, a document, a reminder, a doctor's profile and the forms that
ask him for a consult or a visit); then every page is checked at both sizes:
- nothing is wider than the viewport (the widest offending element is named);
- no single word is broken across more than two lines ("Scarica" one letter per line);
- no element with the `hidden` attribute is displayed (a `display` rule that beats it);
- axe-core finds no serious or critical violation.
The Django admin (the back office) keeps its own stylesheet and is left out."""

import re
import urllib.parse

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser.conftest import off_the_loop, screenshot

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
DEMO_PASSWORD = "demo-telemed-2026"
BLOCKING = {"serious", "critical"}

# Links that are not pages to lay out: files, feeds, the back office, actions.
NOT_PAGES = re.compile(
    r"^/(admin|i18n|static|media|ws)/|/logout|\.(ics|csv|xml|pdf|png|jpg)$|/download|/preview|/pdf/|/file/"
    r"|/attachments/|/feed/|/verify-email/|/two-factor/recovery-codes/new/"
)
# The detail pages worth one visit each, reached from the pages above (one URL per pattern).
DETAILS = [
    re.compile(pattern)
    for pattern in (
        r"^/consults/\d+/$",
        r"^/consults/new/[^/]+/(\?|$)",
        r"^/consults/info/new/[^/]+/$",
        r"^/visits/\d+/$",
        r"^/visits/\d+/room/$",
        r"^/visits/\d+/report/$",
        r"^/visits/book/[^/]+/(\?|$)",
        r"^/visits/proposals/\d+/$",
        r"^/messages/\d+/$",
        r"^/billing/payments/\d+/$",
        r"^/billing/payouts/\d+/$",
        r"^/billing/staff/transfers/\d+/$",
        r"^/billing/structure/doctors/\d+/tariffs/$",
        r"^/box/documents/\d+/$",
        r"^/box/(space|shared)/$",
        r"^/reminders/\d+/$",
        r"^/reminders/(new|settings)/$",
        r"^/reminders/\?view=month",
        r"^/dicom/studies/\d+/$",
        r"^/medici/[^/?]+/$",
        r"^/care/[^?]+/$",
        r"^/account/security/$",
    )
]
# The ten main pages, photographed at 375 px (var/screenshots/phone-*.png) to be looked at.
MAIN_PAGES = {
    ("visitor", r"^/$"): "home",
    ("paziente", r"^/dashboard/$"): "patient-dashboard",
    ("paziente", r"^/medici/[^/?]+/$"): "doctor-profile",
    ("paziente", r"^/consults/new/"): "consult-request",
    ("paziente", r"^/consults/\d+/$"): "consult",
    ("paziente", r"^/box/$"): "welbox",
    ("paziente", r"^/billing/payments/\d+/$"): "payment",
    ("paziente", r"^/reminders/$"): "health-agenda",
    ("medico", r"^/consults/queue/$"): "consult-queue",
    ("medico", r"^/visits/\d+/room/$"): "video-room",
}
MAX_DEPTH = 3
MAX_PAGES = 45

LINKS = """() => [...document.querySelectorAll('header a[href], main a[href]')]
  .filter((a) => !a.closest('[hidden]') && a.origin === location.origin && !a.hasAttribute('download'))
  .map((a) => a.pathname + a.search)"""

# Every check that runs inside the page, in one round trip.
LAYOUT = """() => {
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += '#' + el.id;
    if (typeof el.className === 'string' && el.className.trim()) name += '.' + el.className.trim().split(/\\s+/).join('.');
    const testid = el.getAttribute('data-testid');
    if (testid) name += `[data-testid=${testid}]`;
    const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return text ? `${name} "${text}"` : name;
  };
  const width = window.innerWidth;
  const result = {scrollWidth: document.scrollingElement.scrollWidth, width, widest: [], broken: [], shownHidden: []};

  if (result.scrollWidth > width) {
    // The elements that stick out, not clipped by a scrolling box of their own; the widest first.
    const clipped = (el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const overflow = getComputedStyle(p).overflowX;
        if (overflow !== 'visible') return true;
      }
      return false;
    };
    const out = [];
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.right > width + 1 && box.width > 0 && !clipped(el)) out.push([box.right, el]);
    }
    out.sort((a, b) => b[0] - a[0]);
    // The outermost of the widest ones says most about the cause.
    result.widest = out.slice(0, 3).map(([right, el]) => `${describe(el)} reaches ${Math.round(right)} px`);
  }

  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest('script, style, template, [hidden], .visually-hidden, [aria-hidden="true"]')) continue;
    const re = /\\S+/g;
    let match;
    while ((match = re.exec(node.data))) {
      if (match[0].length < 4) continue;
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (lines.size > 2) result.broken.push(`"${match[0].slice(0, 40)}" on ${lines.size} lines in ${describe(parent)}`);
    }
  }

  for (const el of document.querySelectorAll('[hidden]')) {
    if (el.getAttribute('hidden') === 'until-found') continue;
    if (getComputedStyle(el).display !== 'none') result.shownHidden.push(describe(el));
  }
  return result;
}"""


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def log_in(page, role: str) -> None:
    if role == "visitor":
        page.goto("/")
        return
    email = f"{role}@demo.telemed.test"
    page.goto("/account/login/")
    page.get_by_label("E-mail:", exact=True).fill(email)
    page.get_by_label("Password:", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    if role in ("medico", "staff"):
        page.wait_for_url("**/two-factor/verify/**")
        page.get_by_label("Codice:", exact=True).fill(off_the_loop(authenticator_code, email))
        page.get_by_role("button", name="Continua").click()
    page.wait_for_url("**/dashboard/")


def authenticator_code(email: str) -> str:
    """The demo authenticator's code for now, or for the step after the last one the account used
    (the demo answers a consult with a code one step ahead: "now" would then be a replay)."""
    import time

    from django_otp.oath import hotp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__email__iexact=email, confirmed=True)
    step = max(int(time.time()) // device.step, device.last_t + 1)
    return f"{hotp(device.bin_key, step):06d}"


def crawl(page, start: str, check) -> list[str]:
    """The pages a person of this role reaches: everything linked from the header and from the
    first page, then the main detail pages found from there (one of each kind). ``check(url)``
    looks at each page as the crawl finds it (at the crawl's viewport), so that it is not
    loaded twice at that size."""
    seen_shapes: set[str] = set()
    pages: list[str] = []
    queue = [(start, 0)]
    while queue and len(pages) < MAX_PAGES:
        url, depth = queue.pop(0)
        detail = next((d.pattern for d in DETAILS if d.search(url)), None)
        # A page with another query (a filter, another week) is the same page: one visit.
        shape = detail or re.sub(r"\d+", "N", url.split("?")[0])
        if shape in seen_shapes:
            continue
        seen_shapes.add(shape)
        response = page.goto(url)
        if response is None or response.status >= 400 or path_of(page.url) != url:
            continue  # a redirect (to a form already seen, to the login) or a refusal: not a page of its own
        pages.append(url)
        check(url)
        if depth >= MAX_DEPTH:
            continue
        for link in page.evaluate(LINKS):
            if NOT_PAGES.search(link):
                continue
            # From the first page every link; further on only the detail pages.
            if depth == 0 or any(d.search(link) for d in DETAILS):
                queue.append((link, depth + 1))
    return pages


def layout_problems(page) -> list[str]:
    found = page.evaluate(LAYOUT)
    problems = []
    if found["scrollWidth"] > found["width"]:
        problems.append(f"{found['scrollWidth']} px wide in a {found['width']} px viewport: {found['widest']}")
    problems += [f"word broken: {b}" for b in found["broken"][:5]]
    problems += [f"hidden but displayed: {h}" for h in found["shownHidden"]]
    for violation in Axe().run(page).response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"axe {violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return problems


def open_the_demo_visit_room() -> int | None:
    """The demo visit starts in five minutes, so that its room is open and crawled too."""
    import datetime

    from django.utils import timezone

    from telemed.visits.models import Booking, BookingStatus

    booking = Booking.objects.filter(status=BookingStatus.BOOKED).order_by("pk").first()
    if booking:
        start = timezone.now() + datetime.timedelta(minutes=5)
        Booking.objects.filter(pk=booking.pk).update(start=start, end=start + (booking.end - booking.start))
        return booking.pk
    return None


@pytest.mark.parametrize("role", ["visitor", "paziente", "medico", "segreteria", "struttura", "staff"])
def test_every_page_of_the_role_fits_a_phone_and_a_desktop(new_page, role):
    off_the_loop(call_command, "load_demo", verbosity=0)
    off_the_loop(open_the_demo_visit_room)
    page = new_page(viewport=DESKTOP)
    log_in(page, role)
    problems: dict[str, list[str]] = {}

    def look(url: str, name: str) -> None:
        if found := layout_problems(page):
            problems[f"{name} {url}"] = found

    # The crawl sees every page at the desktop's size; then each is seen again on a phone.
    pages = crawl(page, "/" if role == "visitor" else "/dashboard/", lambda url: look(url, "1280"))
    assert len(pages) >= 3, pages
    page.set_viewport_size(PHONE)
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("load")
        for (who, pattern), shot in MAIN_PAGES.items():
            if who == role and re.search(pattern, url):
                screenshot(page, f"phone-{shot}")
        look(url, "375")
    assert problems == {}, "\n" + "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in problems.items())


def test_the_menu_and_the_chat_drawer_fold_on_a_phone_only(new_page):
    """Under 600 px the navigation and the video room's chat are behind real buttons that say
    whether they are open (keyboard: Enter opens, Escape closes and gives the focus back); at
    1280 px both are shown as they always were; without JavaScript the navigation is shown."""
    off_the_loop(call_command, "load_demo", verbosity=0)
    booking_id = off_the_loop(open_the_demo_visit_room)
    page = new_page(viewport=PHONE)
    log_in(page, "paziente")
    menu = page.locator("button.menu-button")
    welbox = page.locator(".main-nav").get_by_role("link", name="Welbox")
    # expect() waits for the page's modules: on a busy machine they may run after the first look.
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(welbox).to_be_hidden()
    expect(page.get_by_role("button", name="Menu")).to_be_visible()
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(welbox).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(welbox).to_be_hidden()
    assert page.evaluate("document.activeElement.getAttribute('aria-controls')") == "site-menu"

    page.goto(f"/visits/{booking_id}/room/")
    chat = page.locator("button.room-chat-toggle")
    message = page.get_by_label("Messaggio", exact=True)
    expect(message).to_be_hidden()
    expect(chat).to_be_visible()
    chat.click()
    expect(chat).to_have_attribute("aria-expanded", "true")
    expect(message).to_be_visible()

    page.set_viewport_size(DESKTOP)
    expect(menu).to_be_hidden()
    expect(chat).to_be_hidden()
    expect(welbox).to_be_visible()
    expect(message).to_be_visible()

    base_url = page.url.split("/visits/")[0]
    context = page.context.browser.new_context(
        base_url=base_url, locale="it-IT", viewport=PHONE, java_script_enabled=False
    )
    try:
        plain = context.new_page()
        plain.goto("/")
        assert plain.locator(".main-nav").get_by_role("link", name="Trova un medico").is_visible()
        assert plain.locator(".menu-button").is_hidden()
    finally:
        context.close()
