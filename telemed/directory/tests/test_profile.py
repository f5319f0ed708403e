"""The public profile page: live data, the full cost of each service, verification, schema.org microdata."""

import re
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from telemed.billing import donations
from telemed.billing.models import Charity


class Microdata(HTMLParser):
    """The itemprops of the page, with the itemtype of the item they belong to."""

    def __init__(self):
        super().__init__()
        self.stack: list[str | None] = []
        self.props: list[tuple[str | None, str, str]] = []
        self.types: list[str] = []
        self._void = {"meta", "link", "br", "img", "input"}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        owner = next((t for t in reversed(self.stack) if t), None)
        if "itemprop" in attrs:
            value = attrs.get("content") or attrs.get("href") or ""
            self.props.append((owner, attrs["itemprop"], value))
        if "itemscope" in attrs:
            self.types.append(attrs.get("itemtype", ""))
        if tag not in self._void:
            self.stack.append(attrs.get("itemtype") if "itemscope" in attrs else None)

    def handle_endtag(self, tag):
        if tag not in self._void and self.stack:
            self.stack.pop()


def profile_page(client, doctor, **headers):
    response = client.get(reverse("directory:profile", args=[doctor.slug]), **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def priority_doctor(doctor_factory):
    return doctor_factory(
        "Marco", "Bianchi", verified=True, languages=("it", "en"), presentation="Cardiologo a Milano.",
        fees={"info": "0", "base": "45.00", "priority": "85.00", "video-30": "60.00"},
    )  # fmt: skip


def test_each_service_shows_its_full_breakdown_and_commitment(client, priority_doctor):
    html = profile_page(client, priority_doctor, HTTP_ACCEPT_LANGUAGE="en")
    section = html.split('data-testid="service-priority"', 1)[1].split("</section>", 1)[0]
    assert "Answer within 24 hours" in section
    # Doctor's fee, platform fee, stamp duty and the patient's total, and nothing the doctor pays.
    assert re.search(r"Doctor&#x27;s fee.*?85[.,]00", section, re.S)
    assert re.search(r"Platform service fee.*?5[.,]00", section, re.S)
    assert re.search(r"Stamp duty.*?2[.,]00", section, re.S)
    assert re.search(r"Total paid by the patient.*?92[.,]00", section, re.S)
    assert "Bank fees" not in section and "The doctor receives" not in section
    assert 'data-testid="service-video-30"' in html and 'data-testid="service-info"' in html
    assert "Free of charge" in html.split('data-testid="service-info"', 1)[1].split("</section>", 1)[0]
    assert 'data-testid="service-imaging"' not in html  # not offered


def test_qualifications_show_their_verification_status(client, doctor_factory, priority_doctor):
    assert 'data-testid="verified-badge"' in profile_page(client, priority_doctor)
    pending = doctor_factory("Giulia", "Russo")
    html = profile_page(client, pending, HTTP_ACCEPT_LANGUAGE="en")
    assert "Pending verification" in html and 'data-testid="verified-badge"' not in html
    assert "have not yet verified every document" in html


def test_schema_org_physician_microdata(client, priority_doctor):
    html = profile_page(client, priority_doctor)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    parser = Microdata()
    parser.feed(html)
    physician = "https://schema.org/Physician"
    assert physician in parser.types and "https://schema.org/PostalAddress" in parser.types
    props = {(owner, prop) for owner, prop, _ in parser.props}
    assert {(physician, "name"), (physician, "medicalSpecialty"), (physician, "address"), (physician, "description"),
            (physician, "knowsLanguage"), (physician, "makesOffer"), (physician, "url")} <= props  # fmt: skip
    assert ("https://schema.org/PostalAddress", "addressLocality") in props
    prices = [value for owner, prop, value in parser.props if owner == "https://schema.org/Offer" and prop == "price"]
    assert "92.00" in prices  # machine-readable: a dot, whatever the page's language


def test_request_buttons_lead_to_login_and_back_to_the_profile(client, priority_doctor, make_patient):
    here = reverse("directory:profile", args=[priority_doctor.slug])
    html = profile_page(client, priority_doctor)
    link = re.search(r'data-testid="request-priority"', html) and re.search(
        r'href="([^"]+)" data-testid="request-priority"', html
    ).group(1)
    target = urlsplit(link.replace("&amp;", "&"))
    assert target.path == reverse("accounts:login") and parse_qs(target.query)["next"] == [here]
    assert client.get(link.replace("&amp;", "&")).status_code == 200  # the login page, not a 404
    register = re.search(r'href="([^"]+)" data-testid="register-to-request"', html).group(1)
    assert client.get(register.replace("&amp;", "&")).status_code == 200
    # Logged in, the login link brings the visitor straight back to the profile.
    client.force_login(make_patient())
    response = client.get(link.replace("&amp;", "&"))
    assert response.status_code == 302 and response["Location"] == here
    assert 'data-testid="login-to-request"' not in profile_page(client, priority_doctor)


def test_the_donation_note(client, priority_doctor):
    charity = Charity.objects.create(name="Fondazione di prova ETS", iban="IT60X0542811101000000123456")
    donations.donation_set(actor=priority_doctor.user, percent=Decimal("10"), charity=charity)
    html = profile_page(client, priority_doctor, HTTP_ACCEPT_LANGUAGE="en")
    assert "10% of this doctor's earnings go to Fondazione di prova ETS." in html


def test_the_profile_reads_live_data_even_without_an_entry(client, doctor_factory):
    doctor = doctor_factory("Elisa", "Martini", index=False, presentation="Nuova sul portale.")
    html = profile_page(client, doctor)
    assert "Elisa Martini" in html and "Nuova sul portale." in html
    assert 'class="avatar large" aria-hidden="true">EM<' in html


def test_unknown_or_deactivated_doctors_are_not_found(client, priority_doctor):
    assert client.get(reverse("directory:profile", args=["nobody-here"])).status_code == 404
    priority_doctor.user.is_active = False
    priority_doctor.user.save(update_fields=["is_active"])
    assert client.get(reverse("directory:profile", args=[priority_doctor.slug])).status_code == 404
