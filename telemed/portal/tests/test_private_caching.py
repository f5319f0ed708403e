"""Private content is never kept by a browser's or a proxy's cache: every answer to a logged-in
user, and every page or feed opened by a secret link, is ``Cache-Control: private, no-store``.
One middleware (accounts.caching) says so for all apps; this walks every URL of the platform as
each role of the demo, then looks at the files that matter most one by one."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from conftest import log_in
from telemed.accounts.models import Invitation, User
from telemed.billing.models import Invoice
from telemed.boxes.models import BoxKind, Document
from telemed.portal.tests.test_no_server_errors import concrete_paths
from telemed.reminders import services as reminders
from telemed.reports.models import Report

pytestmark = pytest.mark.django_db

ROLES = ["paziente", "medico", "segreteria", "struttura", "staff"]


def directives(response) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def assert_private(response) -> None:
    assert {"private", "no-store"} <= directives(response), response.get("Cache-Control")
    assert "public" not in directives(response)


def demo_client(email: str) -> Client:
    return log_in(Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="it"), User.objects.get(email=email))


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_to_a_logged_in_user_is_private_and_not_stored(role, files_in_tmp):
    call_command("load_demo", verbosity=0)
    client = demo_client(f"{role}@demo.telemed.test")
    cached = []
    for name, path in concrete_paths() + [("admin:index", "/admin/")]:
        response = client.get(path)
        if response.status_code < 400 and not {"private", "no-store"} <= directives(response):
            cached.append(f"GET {path} ({name}): {response.status_code} {response.get('Cache-Control')!r}")
    assert cached == []


@pytest.fixture
def demo(files_in_tmp):
    call_command("load_demo", verbosity=0)


def test_an_invoice_pdf_is_private_and_not_stored(demo):
    invoice = Invoice.objects.order_by("pk").first()
    response = demo_client(invoice.doctor.user.email).get(reverse("billing:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert_private(response)


def test_a_report_pdf_is_private_and_not_stored(demo):
    report = next(report for report in Report.objects.order_by("pk") if report.is_signed and report.pdf)
    for user in (report.doctor, report.patient):
        response = demo_client(user.email).get(reverse("reports:pdf", args=[report.public_id]))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert_private(response)


def test_a_welbox_document_download_is_private_and_not_stored(demo):
    document = Document.objects.filter(box__kind=BoxKind.WELBOX).order_by("pk").first()
    client = demo_client(document.box.owner.email)
    for name in ("boxes:document_download", "boxes:document_preview"):
        response = client.get(reverse(name, args=[document.pk]))
        if response.status_code != 404:  # a preview only for the types a browser shows
            assert response.status_code == 200
            assert_private(response)


def test_the_calendar_feed_opened_by_its_secret_address_is_private_and_not_stored(demo):
    patient = User.objects.get(email="paziente@demo.telemed.test")
    token = reminders.feed_token_create(actor=patient)
    response = Client().get(reverse("reminders:feed", args=[token]))  # a calendar app: no session
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    assert_private(response)


def test_pages_opened_by_a_secret_link_without_a_session_are_private(demo):
    invitation = Invitation.objects.order_by("pk").first()
    visitor = Client()
    if invitation is not None:
        assert_private(visitor.get(reverse("accounts:invitation", args=[invitation.token])))
    assert_private(visitor.get(reverse("accounts:verify_email", args=["not-a-token"])))


def test_public_pages_for_visitors_stay_cacheable(demo):
    visitor = Client()
    for path in ("/", reverse("directory:search")):
        response = visitor.get(path)
        assert response.status_code == 200 and "no-store" not in directives(response)
