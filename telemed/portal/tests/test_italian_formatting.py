"""Italian as Italians write it, in every e-mail, notification and PDF (lib.formatting).

Every e-mail template of every app is rendered in Italian with representative values (an amount
of 48.00 and one of 1234.50, a Monday in December at 08:30, a one-minute count, a woman doctor);
the invoice and report PDFs are rendered and read back; the notification titles are built at their
call sites, checked here by what the code may put in them. None may show a dot before the cents,
"EUR" next to a number, a capitalised weekday or month inside a sentence, "1 minuti", nor the
English "Dr.".
"""

import datetime
import io
import pathlib
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from pypdf import PdfReader

from conftest import certification_uploads, identity, person
from telemed.accounts import services as accounts
from telemed.accounts.models import DoctorTitle, Language, Specialty
from telemed.billing import invoice_pdf, pricing
from telemed.billing.models import Invoice, InvoiceKind
from telemed.reports import pdf as report_pdf
from telemed.reports.models import Report, ReportKind

ROOT = pathlib.Path(__file__).resolve().parents[3]
MONDAY_0830 = datetime.datetime(2026, 12, 7, 7, 30, tzinfo=datetime.UTC)  # 08:30 in Rome
# "billing/email/payment_request_body.txt", … : every e-mail template of every app.
EMAIL_TEMPLATES = sorted(
    str(path.relative_to(path.parents[2])) for path in (ROOT / "telemed").glob("*/templates/*/email/*.txt")
)

WEEKDAYS = "Lunedì Martedì Mercoledì Giovedì Venerdì Sabato Domenica".split()
MONTHS = "Gennaio Febbraio Marzo Aprile Maggio Giugno Luglio Agosto Settembre Ottobre Novembre Dicembre".split()
# A capitalised name is right only where a sentence (or a line) starts.
CAPITALISED_INSIDE = re.compile(r"(?<![.!?\n]\s)(?<!^)(?<![\n])\b(" + "|".join(WEEKDAYS + MONTHS) + r")\b", re.M)
DOT_DECIMAL_AMOUNT = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})*\.\d{2}(?![\d.])")
EUR_NEXT_TO_NUMBER = re.compile(r"\d\s*EUR\b|\bEUR\s*\d")
WRONG_PLURAL = re.compile(r"\b1 (minuti|ore|giorni)\b")


def italian_form_problems(text: str) -> list[str]:
    problems = []
    problems += [f"dot-decimal amount {m!r}" for m in DOT_DECIMAL_AMOUNT.findall(text)]
    problems += [f"EUR next to a number {m!r}" for m in EUR_NEXT_TO_NUMBER.findall(text)]
    problems += [f"capitalised name {m!r}" for m in CAPITALISED_INSIDE.findall(text)]
    problems += [f"plural {m!r}" for m in WRONG_PLURAL.findall(text)]
    if "Dr." in text:
        problems.append("English title 'Dr.'")
    return problems


def test_the_checks_catch_the_old_forms():
    old = "Promemoria: 48.00 EUR ancora da pagare, visita di Lunedì 07 Dicembre 2026, 1 minuti, Dr. Anna Bianchi"
    assert len(italian_form_problems(old)) == 6
    good = "Promemoria: 48,00\u00a0€ ancora da pagare, visita di lunedì 7 dicembre 2026 alle 08:30, 1 minuto.\nLunedì si parte."
    assert italian_form_problems(good) == []


@pytest.fixture
def people(db, reference_data):
    doctor = accounts.doctor_register(
        person=person(first_name="Anna", last_name="Bianchi"),
        identity=identity(first="Anna", last="Bianchi", sex="F"),
        ordine_province="MI", ordine_number="77001", partita_iva="12345678903", iban="IT60X0542811101000000123456",
        practice_address="Via Verdi 1", practice_city="Milano", practice_postcode="20121", practice_province="MI",
        specialties=list(Specialty.objects.filter(code="cardiologia")), languages=list(Language.objects.filter(code="it")),
        certifications=certification_uploads(),
    )  # fmt: skip
    patient = accounts.patient_register(
        person=person(first_name="Giulia", last_name="Conti"), identity=identity(first="Giulia", last="Conti", sex="F")
    )
    return SimpleNamespace(doctor=doctor, patient=patient)


def test_a_woman_doctor_is_dottssa_by_default(people):
    assert people.doctor.doctor_profile.title == DoctorTitle.DOTTSSA
    with translation.override("it"):
        assert people.doctor.display_name == "Dott.ssa Anna Bianchi"
    with translation.override("en"):
        assert people.doctor.display_name == "Dr. Anna Bianchi"


class Link(str):
    """A link in most e-mails, a care link (with its doctor) in the care invitation."""

    def __new__(cls, doctor):
        link = super().__new__(cls, "https://telemed.test/x")
        link.doctor = doctor
        return link


def email_context(people) -> dict:
    doctor, patient = people.doctor, people.patient
    request = SimpleNamespace(
        amount=Decimal("1234.50"),
        outstanding=Decimal("48.00"),
        description="Consulto di base — Dott.ssa Anna Bianchi",
        payer=patient,
    )
    return {
        "user": patient,
        "recipient": patient,
        "patient": patient,
        "doctor": doctor,
        "link": Link(doctor),
        "url": "https://telemed.test/x",
        "security_url": "https://telemed.test/security",
        "kind": "Richiesta di pagamento",
        "request": request,
        "account": SimpleNamespace(beneficiary="telemed", iban_formatted="IT60 X054 2811 1010 0000 0123 456", bic=""),
        "reference": "RF18 0000 0000 0000 0000 0012 3",
        "invoice": SimpleNamespace(
            patient=patient, is_credit_note=False, display_number="1/2026", credits=None, total=Decimal("48.00")
        ),
        "title": "Fattura 1/2026 — Dott.ssa Anna Bianchi",
        "invitation": SimpleNamespace(
            doctor=doctor.doctor_profile, structure=SimpleNamespace(name="Poliambulatorio Test"), expires_at=MONDAY_0830
        ),
        "event": SimpleNamespace(
            get_kind_display=lambda: "Password cambiata",
            at=MONDAY_0830,
            ip_address="2001:db8::1",
            actor=None,
            previous_email="",
        ),
        "reminder": SimpleNamespace(title="Cardioaspirina", doctor=doctor, notes=""),
        "when": MONDAY_0830,
        "late": False,
        "booking": SimpleNamespace(doctor=doctor, patient=patient, start=MONDAY_0830, duration_minutes=1),
        "info": SimpleNamespace(doctor=doctor.doctor_profile, patient=patient),
    }


@pytest.mark.parametrize("template", EMAIL_TEMPLATES)
def test_every_email_is_written_in_italian_form(people, template):
    with translation.override("it"):
        text = render_to_string(template, email_context(people))
    assert italian_form_problems(text) == [], text


def test_the_emails_with_values_show_them_in_italian_form(people):
    """The checks above pass on an empty text too: the values must be there, in Italian form."""
    context = email_context(people)
    with translation.override("it"):
        request = render_to_string("billing/email/payment_request_body.txt", context)
        request_subject = render_to_string("billing/email/payment_request_subject.txt", context)
        reminder = render_to_string("reminders/email/reminder_body.txt", context)
        visit = render_to_string("visits/email/confirmation_body.txt", context)
        security = render_to_string("accounts/email/security_notice_body.txt", context)
        invitation = render_to_string("accounts/email/invitation_secretary_body.txt", context)
    assert "48,00\u00a0€" in request and "1.234,50\u00a0€" in request_subject
    assert "lunedì 7 dicembre 2026 alle 08:30" in reminder and "Impostato dalla Dott.ssa Anna Bianchi." in reminder
    assert "lunedì 7 dicembre 2026 alle 08:30" in visit and "1 minuto" in visit and "Dott.ssa Anna Bianchi" in visit
    assert "lunedì 7 dicembre 2026 alle 08:30" in security
    assert "7 dicembre 2026" in invitation and invitation.startswith("Dott.ssa Anna Bianchi")


def pdf_text(stream: io.BytesIO) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(stream).pages)


def test_the_invoice_pdf_is_in_italian_form(people):
    doctor = people.doctor.doctor_profile
    breakdown = pricing.price(
        fee=Decimal("1234.50"), rules=pricing.fee_rules_for(doctor=doctor, kind="base"), kind="base"
    )
    invoice = Invoice(
        kind=InvoiceKind.INVOICE, doctor=doctor, patient=people.patient, year=2026, number=1,
        issued_at=MONDAY_0830, paid_at=MONDAY_0830, description="Consulto di base",
        seller={"name": "Anna Bianchi", "title": doctor.get_title_display(), "codice_fiscale": doctor.codice_fiscale,
                "partita_iva": doctor.partita_iva, "address": "Via Verdi 1", "postcode": "20121", "city": "Milano",
                "province": "MI", "ordine": "MI 77001"},
        buyer={"name": "Giulia Conti", "codice_fiscale": people.patient.patient_profile.codice_fiscale},
        breakdown=breakdown.to_dict(), total=breakdown.patient_total,
    )  # fmt: skip
    text = pdf_text(invoice_pdf.render(invoice))
    assert italian_form_problems(text) == [], text
    assert "Dott.ssa Anna Bianchi" in text and "7 dicembre 2026" in text
    assert "1.234,50\u00a0€" in text.replace(
        " €", "\u00a0€"
    )  # the PDF's text layer may read a no-break space as a space


def test_the_report_pdf_is_in_italian_form(people):
    report = Report.objects.create(
        kind=ReportKind.REPORT,
        doctor=people.doctor,
        patient=people.patient,
        diagnosis="Ritmo sinusale.",
        signed_at=MONDAY_0830,
    )
    text = pdf_text(report_pdf.render_report_pdf(report, issued_at=MONDAY_0830))
    assert italian_form_problems(text) == [], text
    assert "Dott.ssa Anna Bianchi" in text and "7 dicembre 2026" in text and "Nata il" in text, text


# --- notification titles -------------------------------------------------------------------------
# A title is built where notify() is called; its values reach it through lib.formatting. So no
# message of a notify() call site may put "EUR" after a value, and none may take a bare amount,
# date or doctor's name. (The flows that send them check the rendered titles in their own apps.)

NOTIFY_SOURCES = sorted(
    path
    for path in (ROOT / "telemed").glob("*/*.py")
    if "notify(" in path.read_text() and path.parent.name != "notifications"
)


@pytest.mark.parametrize("path", NOTIFY_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_notification_titles_use_the_formatting_helpers(path):
    source = path.read_text()
    assert not re.search(r"%\(\w+\)s EUR|EUR %\(\w+\)s", source)
    assert not re.search(r'_\("[^"]*\bDr\. %\(', source)
    assert ".strftime(" not in "\n".join(line for line in source.splitlines() if "title" in line)
    # An amount in a title goes through formatting.money.
    for match in re.finditer(r'"amount": ([^,}]+)', source):
        assert "formatting.money(" in match.group(1), match.group(0)
