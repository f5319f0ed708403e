import datetime
import itertools

import pytest

from conftest import log_in
from telemed.accounts import consents
from telemed.accounts.models import DoctorProfile, PatientProfile, Role, Structure, StructureManagerProfile, User
from telemed.billing.models import Charity
from telemed.portal.management.commands.load_demo import demo_codice_fiscale, demo_iban, demo_partita_iva

PASSWORD = "a-long-test-password-2026"
_numbers = itertools.count(1)


def _user(role: str, first: str, last: str) -> User:
    n = next(_numbers)
    user = User.objects.create_user(f"{role}{n}@example.test", PASSWORD, first_name=first, last_name=last, role=role)
    consents.consents_give(user=user, kinds=consents.required_kinds(user))  # as registration gives them
    return user


@pytest.fixture
def make_structure(db):
    def make(name: str = "Poliambulatorio Test") -> Structure:
        n = next(_numbers)
        structure = Structure.objects.create(
            name=name,
            slug=f"structure-{n}",
            partita_iva=demo_partita_iva(800000 + n),
            address="Via Dante 1",
            city="Milano",
            province="MI",
        )
        manager = _user(Role.STRUCTURE_MANAGER, "Roberta", f"Galli{n}")
        StructureManagerProfile.objects.create(user=manager, structure=structure)
        return structure

    return make


@pytest.fixture
def make_doctor(db):
    def make(first: str = "Marco", last: str = "Bianchi", structure: Structure | None = None) -> DoctorProfile:
        n = next(_numbers)
        user = _user(Role.DOCTOR, first, last)
        birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=n)
        return DoctorProfile.objects.create(
            user=user,
            slug=f"dr-{n}",
            codice_fiscale=demo_codice_fiscale(last, first, birth, "M", "F205"),
            birth_date=birth,
            sex="M",
            phone="+39 347 000 0000",
            ordine_province="MI",
            ordine_number=str(50000 + n),
            partita_iva=demo_partita_iva(300000 + n),
            iban=demo_iban(n),
            practice_address="Via Roma 1",
            practice_city="Milano",
            practice_postcode="20121",
            practice_province="MI",
            structure=structure,
        )

    return make


@pytest.fixture
def doctor(make_doctor) -> DoctorProfile:
    return make_doctor()


@pytest.fixture
def structure(make_structure) -> Structure:
    return make_structure()


@pytest.fixture
def manager(structure) -> User:
    return structure.managers.get().user


@pytest.fixture
def structure_doctor(make_doctor, structure) -> DoctorProfile:
    return make_doctor("Luca", "Ferrari", structure=structure)


@pytest.fixture
def staff(db) -> User:
    n = next(_numbers)
    return User.objects.create_superuser(f"staff{n}@example.test", PASSWORD, first_name="Staff", last_name="telemed")


@pytest.fixture
def patient(db) -> User:
    user = _user(Role.PATIENT, "Anna", "Conti")
    PatientProfile.objects.create(
        user=user,
        codice_fiscale=demo_codice_fiscale("Conti", "Anna", datetime.date(1990, 5, 21), "F", "F205"),
        birth_date=datetime.date(1990, 5, 21),
        sex="F",
        phone="+39 333 100 0001",
    )
    return user


@pytest.fixture
def charity(db) -> Charity:
    return Charity.objects.create(name="Test charity ETS", iban="IT60X0542811101000000123456")


@pytest.fixture
def doctor_client(client, doctor):
    """A client logged in as ``doctor``, second factor passed."""
    return _logged_in_doctor(client, doctor)


def _logged_in_doctor(client, doctor: DoctorProfile):
    return log_in(client, doctor.user)


@pytest.fixture
def login_doctor():
    return _logged_in_doctor


# --- the billing flow: services delivered, statements received -------------------------------------

from decimal import Decimal  # noqa: E402

from django.utils import timezone  # noqa: E402
from lxml import etree  # noqa: E402

from telemed.billing import payments, pricing, proformas, tariffs  # noqa: E402

CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@pytest.fixture
def make_patient_user(db):
    def make(first: str = "Anna", last: str = "Conti", language: str = "it") -> User:
        n = next(_numbers)
        user = _user(Role.PATIENT, first, f"{last}{chr(65 + n % 26)}")
        user.language = language
        user.save(update_fields=["language"])
        birth = datetime.date(1985, 1, 1) + datetime.timedelta(days=n)
        PatientProfile.objects.create(
            user=user,
            codice_fiscale=demo_codice_fiscale(user.last_name, first, birth, "F", "F205"),
            birth_date=birth,
            sex="F",
            phone="+39 333 100 0001",
        )
        return user

    return make


@pytest.fixture
def deliver(db):
    """Register a delivered service the way consults and visits will: priced by the pricing module."""

    def make(doctor: DoctorProfile, patient: User, *, fee: str = "45.00", kind: str = "base", duration=None, key=None):
        if selectors_tariff(doctor, kind, duration) is None or selectors_tariff(doctor, kind, duration).fee != Decimal(
            fee
        ):
            response = {} if kind == "video" else {"response_value": 72, "response_unit": "hours"}
            tariffs.tariff_set(
                actor=doctor.user, doctor=doctor, kind=kind, fee=Decimal(fee), duration_minutes=duration, **response
            )
        breakdown = pricing.price_service(doctor=doctor, kind=kind, duration=duration)
        return proformas.billable_service_register(
            doctor=doctor,
            patient=patient,
            kind=kind,
            duration_minutes=duration,
            breakdown=breakdown,
            accepted_at=timezone.now(),
            source_label=f"Consulto {next(_numbers)}",
            source_url="/consults/1/",
            source_key=key,
        )

    return make


def selectors_tariff(doctor, kind, duration):
    from telemed.billing import selectors

    return selectors.tariff_current_for(doctor, kind, duration)


@pytest.fixture
def billed(deliver, make_patient_user):
    """A validated proforma: (doctor, patient, payment request)."""

    def make(doctor: DoctorProfile, patient: User | None = None, fee: str = "45.00"):
        patient = patient or make_patient_user()
        service = deliver(doctor, patient, fee=fee)
        proforma = proformas.proformas_draft(actor=doctor.user, service_ids=[service.pk])[0]
        return payments.proformas_validate(actor=doctor.user, include=[proforma.pk])[0]

    return make


def camt053(
    entries: list[dict], *, iban: str | None = None, statement_id: str = "STMT-1", version: str = CAMT
) -> bytes:
    """A camt.053 statement of the platform's account with the given credit entries.

    Each entry: amount, reference (structured RF) or text (unstructured), currency, bank_ref, debtor, indicator.
    """
    from django.conf import settings

    ns = {None: version}
    root = etree.Element("Document", nsmap=ns)
    message = etree.SubElement(root, "BkToCstmrStmt")
    header = etree.SubElement(message, "GrpHdr")
    etree.SubElement(header, "MsgId").text = f"MSG-{statement_id}"
    etree.SubElement(header, "CreDtTm").text = "2026-03-02T08:00:00"
    stmt = etree.SubElement(message, "Stmt")
    etree.SubElement(stmt, "Id").text = statement_id
    etree.SubElement(stmt, "CreDtTm").text = "2026-03-02T08:00:00"
    account = etree.SubElement(etree.SubElement(etree.SubElement(stmt, "Acct"), "Id"), "IBAN")
    account.text = iban or settings.BILLING_IBAN
    for entry in entries:
        node = etree.SubElement(stmt, "Ntry")
        if entry.get("bank_ref"):
            etree.SubElement(node, "NtryRef").text = entry["bank_ref"]
        amount = etree.SubElement(node, "Amt", Ccy=entry.get("currency", "EUR"))
        amount.text = str(entry["amount"])
        etree.SubElement(node, "CdtDbtInd").text = entry.get("indicator", "CRDT")
        etree.SubElement(node, "Sts").text = "BOOK"
        etree.SubElement(etree.SubElement(node, "BookgDt"), "Dt").text = entry.get("date", "2026-03-01")
        etree.SubElement(etree.SubElement(node, "ValDt"), "Dt").text = entry.get("date", "2026-03-01")
        if entry.get("bank_ref"):
            etree.SubElement(node, "AcctSvcrRef").text = entry["bank_ref"]
        etree.SubElement(etree.SubElement(node, "BkTxCd"), "Prtry").append(etree.Element("Cd"))
        node.find("BkTxCd/Prtry/Cd").text = "SCT"
        details = etree.SubElement(etree.SubElement(node, "NtryDtls"), "TxDtls")
        parties = etree.SubElement(details, "RltdPties")
        etree.SubElement(etree.SubElement(parties, "Dbtr"), "Nm").text = entry.get("debtor", "Anna Conti")
        etree.SubElement(
            etree.SubElement(etree.SubElement(parties, "DbtrAcct"), "Id"), "IBAN"
        ).text = "IT60X0542811101000000123456"
        remittance = etree.SubElement(details, "RmtInf")
        if entry.get("text"):
            etree.SubElement(remittance, "Ustrd").text = entry["text"]
        if entry.get("reference"):
            strd = etree.SubElement(remittance, "Strd")
            ref = etree.SubElement(strd, "CdtrRefInf")
            etree.SubElement(etree.SubElement(etree.SubElement(ref, "Tp"), "CdOrPrtry"), "Cd").text = "SCOR"
            etree.SubElement(ref, "Ref").text = entry["reference"]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
