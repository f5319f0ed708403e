"""Load the demo data: doctors across specialties and cities (some in a structure),
patients, a secretary, a structure manager and a staff member, and the doctors'
tariffs (the structure's doctors' set by its manager) and one donation.

Idempotent: every account is looked up by e-mail first, and a doctor who already
has tariffs is left alone, so a second run changes nothing. Accounts and tariffs
are created through the same services that registration and the tariff pages use.
"""

import datetime
import io
import time
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from pypdf import PdfWriter
from schwifty import IBAN
from stdnum import luhn
from stdnum.it import codicefiscale

from telemed.accounts import services
from telemed.accounts.models import (
    Certification,
    CertificationKind,
    Language,
    Role,
    Sex,
    Specialty,
    User,
)
from telemed.audit import services as audit_services
from telemed.billing import charities as billing_charities
from telemed.billing import donations, payments, proformas, storage_purchases, tariffs
from telemed.billing import selectors as billing_selectors
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as box_services
from telemed.boxes import uploads as box_uploads
from telemed.directory import services as directory_services
from telemed.rights import retention

DOMAIN = "demo.telemed.test"
PASSWORD = "demo-telemed-2026"
# Shared by every demo doctor so that anyone can log in as them with an
# authenticator app; README.md prints it in base32.
DEMO_TOTP_KEY_HEX = b"telemed-demo-totp-26".hex()

MONTH_LETTERS = "ABCDEHLMPRST"
VOWELS = set("AEIOU")


def _consonants_then_vowels(name: str) -> tuple[str, str]:
    letters = [c for c in name.upper() if c.isalpha()]
    return "".join(c for c in letters if c not in VOWELS), "".join(c for c in letters if c in VOWELS)


def demo_codice_fiscale(last: str, first: str, birth: datetime.date, sex: str, comune: str) -> str:
    """A well-formed codice fiscale for a fictitious person (demo data only)."""
    cons, vow = _consonants_then_vowels(last)
    surname = (cons + vow + "XXX")[:3]
    cons, vow = _consonants_then_vowels(first)
    name = cons[0] + cons[2] + cons[3] if len(cons) > 3 else (cons + vow + "XXX")[:3]
    day = birth.day + (40 if sex == "F" else 0)
    body = f"{surname}{name}{birth.year % 100:02d}{MONTH_LETTERS[birth.month - 1]}{day:02d}{comune}"
    return body + codicefiscale.calc_check_digit(body)


def demo_partita_iva(seed: int) -> str:
    body = f"{seed:07d}" + "001"  # 7 digits, then the Agenzia's office code
    return body + luhn.calc_check_digit(body)


def demo_iban(seed: int) -> str:
    return IBAN.generate("IT", bank_code="0306909606", account_code=f"{100000000000 + seed:012d}").compact


def demo_study_import(owner: User, folder=None):
    """One study of pydicom's DICOMDIR test set (MR, "Brain-MRA": three series, eleven images),
    imported into ``owner``'s box the way a CD is, and run here rather than by the worker so that
    it is complete on return (the queued task then finds the import done and does nothing; if a
    running worker was first, this waits for it)."""
    from pathlib import Path

    import pydicom
    from django.utils import timezone
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from telemed.dicom import importing, receiving, tasks
    from telemed.dicom.models import ImportState

    mr = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892003"
    files = [
        mr / "MR1" / "5641",
        *(mr / "MR2" / name for name in ("6273", "6605", "6935")),
        *sorted((mr / "MR700").iterdir()),
    ]
    cd_import = receiving.cd_import_start(actor=owner, folder=folder)
    for path in files:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            receiving.cd_import_receive(
                actor=owner, cd_import=cd_import, path=f"CD/{path.parent.name}/{path.name}", offset=0, total=size,
                stream=stream, length=size,
            )  # fmt: skip
    receiving.cd_import_finish(actor=owner, cd_import=cd_import)
    # The finish queued the import's task. Take it off the queue before running the import here
    # (one conditional UPDATE, which waits for a worker's lock on the row): otherwise a running
    # worker could claim it meanwhile, find the import RUNNING and take this very run for one
    # whose worker died, resuming it beside it.
    taken = DBTaskResult.objects.filter(
        task_path=tasks.cd_import_run.module_path,
        args_kwargs__kwargs__import_id=str(cd_import.pk),
        status=TaskResultStatus.READY,
    ).update(status=TaskResultStatus.SUCCESSFUL, worker_ids=["load_demo"], finished_at=timezone.now())
    if not taken or importing.cd_import_run(import_id=str(cd_import.pk)) is None:
        # A task worker that is already running took the queued import first: wait for it.
        deadline = time.monotonic() + 300
        while cd_import.state not in (ImportState.DONE, ImportState.FAILED) and time.monotonic() < deadline:
            time.sleep(0.2)
            cd_import.refresh_from_db()
    cd_import.refresh_from_db()
    return cd_import


def demo_pdf(title: str) -> io.BytesIO:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    stream = io.BytesIO()
    writer.write(stream)
    stream.seek(0)
    return stream


# email local part, first, last, sex, birth, comune code, city, province, CAP, specialties, languages, structure?, verified?
DOCTORS = [
    (
        "medico",
        "Marco",
        "Bianchi",
        "M",
        (1974, 3, 12),
        "F205",
        "Milano",
        "MI",
        "20121",
        ["cardiologia"],
        ["it", "en"],
        True,
        True,
    ),
    (
        "medico2",
        "Giulia",
        "Russo",
        "F",
        (1981, 9, 4),
        "H501",
        "Roma",
        "RM",
        "00184",
        ["dermatologia"],
        ["it", "en", "fr"],
        False,
        False,
    ),
    (
        "medico3",
        "Luca",
        "Ferrari",
        "M",
        (1969, 1, 28),
        "A944",
        "Bologna",
        "BO",
        "40121",
        ["ortopedia", "medicina-dello-sport"],
        ["it"],
        True,
        True,
    ),
    (
        "medico4",
        "Francesca",
        "Esposito",
        "F",
        (1985, 6, 17),
        "F839",
        "Napoli",
        "NA",
        "80133",
        ["pediatria"],
        ["it", "es"],
        False,
        True,
    ),
    (
        "medico5",
        "Alessandro",
        "Romano",
        "M",
        (1977, 11, 2),
        "L219",
        "Torino",
        "TO",
        "10121",
        ["neurologia"],
        ["it", "de"],
        False,
        True,
    ),
    (
        "medico6",
        "Chiara",
        "Colombo",
        "F",
        (1979, 4, 23),
        "F205",
        "Milano",
        "MI",
        "20135",
        ["radiologia"],
        ["it", "en"],
        True,
        False,
    ),
    (
        "medico7",
        "Davide",
        "Ricci",
        "M",
        (1972, 8, 9),
        "D612",
        "Firenze",
        "FI",
        "50123",
        ["gastroenterologia"],
        ["it"],
        False,
        True,
    ),
    (
        "medico8",
        "Sara",
        "Marino",
        "F",
        (1988, 2, 14),
        "G273",
        "Palermo",
        "PA",
        "90133",
        ["ginecologia"],
        ["it", "en"],
        False,
        False,
    ),
    (
        "medico9",
        "Paolo",
        "Greco",
        "M",
        (1965, 12, 1),
        "L736",
        "Venezia",
        "VE",
        "30124",
        ["medicina-generale", "geriatria"],
        ["it", "en"],
        False,
        True,
    ),
    (
        "medico10",
        "Elena",
        "Bruno",
        "F",
        (1983, 7, 30),
        "A662",
        "Bari",
        "BA",
        "70121",
        ["endocrinologia", "diabetologia"],
        ["it"],
        False,
        True,
    ),
]

# email local part, base consult, consult with images, priority consult (None: not offered),
# video visits {minutes: fee}. Every doctor answers Info requests (free) within 2 working days.
# Some fees are above 77.47 EUR so that the stamp duty shows; the structure's doctors'
# (medico, medico3, medico6) are set by the structure's manager.
TARIFFS = [
    ("medico", "45.00", "70.00", "85.00", {30: "60.00", 60: "100.00"}),
    ("medico2", "35.00", None, "60.00", {15: "25.00", 30: "45.00"}),
    ("medico3", "50.00", "75.00", None, {30: "55.00"}),
    ("medico4", "30.00", None, "50.00", {15: "20.00", 30: "35.00", 45: "50.00"}),
    ("medico5", "60.00", "90.00", "95.00", {30: "70.00", 60: "120.00"}),
    ("medico6", "40.00", "80.00", None, {}),
    ("medico7", "55.00", "74.47", "85.00", {45: "75.00"}),
    ("medico8", "25.00", None, "45.00", {15: "20.00", 30: "35.00"}),
    ("medico9", "38.00", "58.00", "68.00", {30: "50.00", 60: "90.00"}),
    ("medico10", "42.00", "62.00", None, {30: "55.00", 45: "70.00"}),
]
RESPONSE_TIMES = {
    "info": (2, "working_days"),
    "base": (72, "hours"),
    "imaging": (5, "working_days"),
    "priority": (24, "hours"),
}
# medico@ donates this share of each fee to the first charity of the list.
DEMO_DONATION_PERCENT = Decimal("10")

PATIENTS = [
    ("paziente", "Anna", "Conti", "F", (1990, 5, 21), "F205", "+39 333 100 0001"),
    ("paziente2", "Giorgio", "De Luca", "M", (1958, 10, 3), "H501", "+39 333 100 0002"),
]


class Command(BaseCommand):
    help = "Create the demo accounts (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            # The demo accounts' password and TOTP secret are published in the README.
            raise CommandError("load_demo refuses to run with TELEMED_ENV=production: its logins are public.")
        created = 0
        with transaction.atomic():
            created += self._staff()
            created += self._structure()
            for index, row in enumerate(DOCTORS, start=1):
                created += self._doctor(index, *row)
            for row in PATIENTS:
                created += self._patient(*row)
            created += self._secretary()
            priced = sum(self._tariffs(*row) for row in TARIFFS)
            self._donation()
        self.stdout.write(f"Demo data: {created} account(s) created, the rest already present.")
        self.stdout.write(f"Demo tariffs: set for {priced} doctor(s).")
        self.stdout.write(
            f"Demo logins (password {PASSWORD}): paziente@, paziente2@, medico@, medico2@, segreteria@, struttura@, "
            f"staff@ {DOMAIN}"
        )
        # Boxes (a step of its own, idempotent): a few documents in the demo patient's Welbox,
        # one shared with medico@, whose Medbox has the patient's folder with a visit note.
        self.stdout.write(f"Boxes: {self._boxes()} demo document(s) added.")
        # DICOM (a step of its own, idempotent): a radiology CD imported into the demo patient's
        # Welbox, built from the DICOM files inside the pydicom wheel (never downloaded).
        self.stdout.write(f"Radiology: {self._dicom()} demo image(s) imported.")
        # The audit trail's daily retention purge (idempotent: one chain at a time).
        audit_services.audit_retention_schedule()
        # The daily sweep of every retention rule (telemed/rights/retention.py; one chain at a time).
        retention.retention_schedule()
        # Billing (a step of its own, idempotent): medico@ has delivered services, some still to
        # bill, one payment request awaiting paziente@'s transfer and one paid invoice; storage plans on sale.
        self.stdout.write(f"Billing: {self._billing()} demo service(s) delivered.")
        # Consults (a step of its own, idempotent): paziente@'s consults to medico@ in several states,
        # a priority one with the demo CD's study, and an Info request waiting in segreteria@'s inbox.
        self.stdout.write(f"Consults: {self._consults()} demo consult(s) added.")
        # An answered consult (a step of its own, idempotent): medico@ enrols a signing app and
        # answers one of paziente@'s consults with a signed report, which reaches her Welbox.
        self.stdout.write(f"Signed answers: {self._answered_consult()} demo consult(s) answered.")
        # Care, messages, reminders and video visits (steps of their own, idempotent): paziente@ and
        # paziente2@ linked to medico@, who writes to paziente@ and to medico2@ in Intramed and sets
        # paziente@ a medication reminder; every doctor who offers video visits has weekday hours,
        # and paziente@ has a visit booked with medico@.
        self.stdout.write(f"Care: {self._care()} demo link(s) and conversation(s) added.")
        self.stdout.write(f"Reminders: {self._reminders()} demo reminder(s) added.")
        self.stdout.write(f"Visits: {self._visits()} demo agenda(s) opened and visit(s) booked.")
        # Last: the directory's search entries, rebuilt from everything above (idempotent),
        # and the sweep that keeps them fresh from here on.
        self.stdout.write(f"Directory: {directory_services.directory_reindex()} doctor(s) searchable.")
        directory_services.directory_sweep_schedule()

    @staticmethod
    def _email(local: str) -> str:
        return f"{local}@{DOMAIN}"

    def _exists(self, local: str) -> bool:
        return User.objects.filter(email=self._email(local)).exists()

    def _verified(self, user: User) -> None:
        user.email_verified_at = user.date_joined
        user.save(update_fields=["email_verified_at"])

    def _staff(self) -> int:
        if self._exists("staff"):
            return 0
        user = User.objects.create_superuser(self._email("staff"), PASSWORD, first_name="Staff", last_name="telemed")
        self._verified(user)
        TOTPDevice.objects.create(user=user, name="Demo authenticator", key=DEMO_TOTP_KEY_HEX, confirmed=True)
        return 1

    def _structure(self) -> int:
        if self._exists("struttura"):
            return 0
        user = services.structure_manager_register(
            person=services.Person(self._email("struttura"), PASSWORD, "Roberta", "Galli"),
            phone="+39 02 1234 5678",
            structure_name="Poliambulatorio San Luca",
            partita_iva=demo_partita_iva(900001),
            address="Via Solferino 14",
            city="Milano",
            province="MI",
        )
        self._verified(user)
        return 1

    def _doctor(
        self,
        index,
        local,
        first,
        last,
        sex,
        birth,
        comune,
        city,
        province,
        cap,
        specialties,
        languages,
        in_structure,
        verified,
    ) -> int:
        if self._exists(local):
            return 0
        birth_date = datetime.date(*birth)
        certifications = [
            services.UploadedCertification(
                kind=kind, name=f"{kind.value}.pdf", stream=(pdf := demo_pdf(kind.label)), size=len(pdf.getvalue())
            )
            for kind in CertificationKind
        ]
        user = services.doctor_register(
            person=services.Person(self._email(local), PASSWORD, first, last),
            identity=services.Identity(
                codice_fiscale=demo_codice_fiscale(last, first, birth_date, sex, comune),
                birth_date=birth_date,
                sex=Sex(sex),
                phone=f"+39 347 200 {index:04d}",
            ),
            ordine_province=province,
            ordine_number=f"{10000 + index * 37}",
            partita_iva=demo_partita_iva(100000 + index),
            iban=demo_iban(index),
            practice_address=f"Via Roma {index * 3}",
            practice_city=city,
            practice_postcode=cap,
            practice_province=province,
            specialties=list(Specialty.objects.filter(code__in=specialties)),
            languages=list(Language.objects.filter(code__in=languages)),
            certifications=certifications,
            presentation=(
                f"{first} {last}, medico specialista a {city}. Ricevo consulti online e videovisite; "
                "rispondo di persona a ogni richiesta."
            ),
        )
        self._verified(user)
        TOTPDevice.objects.create(user=user, name="Demo authenticator", key=DEMO_TOTP_KEY_HEX, confirmed=True)
        if verified:
            staff = User.objects.get(email=self._email("staff"))
            for certification in Certification.objects.filter(doctor__user=user):
                services.certification_review(actor=staff, certification=certification, approve=True)
        if in_structure:
            manager = User.objects.get(email=self._email("struttura"))
            invitation = services.structure_doctor_invite(actor=manager, email=user.email)
            services.invitation_accept(actor=user, token=invitation.token)
        return 1

    def _patient(self, local, first, last, sex, birth, comune, phone) -> int:
        if self._exists(local):
            return 0
        birth_date = datetime.date(*birth)
        user = services.patient_register(
            person=services.Person(self._email(local), PASSWORD, first, last),
            identity=services.Identity(
                codice_fiscale=demo_codice_fiscale(last, first, birth_date, sex, comune),
                birth_date=birth_date,
                sex=Sex(sex),
                phone=phone,
            ),
        )
        self._verified(user)
        return 1

    def _secretary(self) -> int:
        if self._exists("segreteria"):
            return 0
        doctor = User.objects.get(email=self._email("medico"))
        invitation = services.secretary_invite(actor=doctor, email=self._email("segreteria"))
        user = services.secretary_register_from_invitation(
            token=invitation.token,
            person=services.Person(self._email("segreteria"), PASSWORD, "Laura", "Fontana"),
            phone="+39 02 9876 5432",
        )
        return 1 if user.role == Role.SECRETARY else 0

    def _tariffs(self, local, base, imaging, priority, videos) -> int:
        doctor = User.objects.get(email=self._email(local)).doctor_profile
        if billing_selectors.tariffs_current_of(doctor).exists():
            return 0
        actor = doctor.user
        if doctor.structure is not None:
            actor = doctor.structure.managers.select_related("user").first().user
        consults = {"info": "0.00", "base": base, "imaging": imaging, "priority": priority}
        for kind, fee in consults.items():
            if fee is not None:
                value, unit = RESPONSE_TIMES[kind]
                tariffs.tariff_set(
                    actor=actor, doctor=doctor, kind=kind, fee=Decimal(fee), response_value=value, response_unit=unit
                )
        for minutes, fee in videos.items():
            tariffs.tariff_set(actor=actor, doctor=doctor, kind="video", duration_minutes=minutes, fee=Decimal(fee))
        return 1

    def _donation(self) -> None:
        # The charities seeded by the migrations have no bank account (staff add the real one);
        # in the demo they get valid test IBANs, so that they are offered and paid like any other.
        staff = User.objects.get(email=self._email("staff"))
        for charity in billing_selectors.charities_all().filter(iban="").order_by("pk"):
            billing_charities.charity_iban_set(actor=staff, charity=charity, iban=demo_iban(900 + charity.pk))
        doctor = User.objects.get(email=self._email("medico"))
        settings = billing_selectors.billing_settings_of(doctor.doctor_profile)
        charity = billing_selectors.charity_list().first()
        if charity is not None and (settings is None or settings.charity_id is None):
            donations.donation_set(actor=doctor, percent=DEMO_DONATION_PERCENT, charity=charity)

    def _boxes(self) -> int:
        patient = User.objects.get(email=self._email("paziente"))
        doctor = User.objects.get(email=self._email("medico"))
        welbox, medbox = box_services.box_for(patient), box_services.box_for(doctor)
        if welbox.documents.exists() or medbox.documents.exists():
            return 0
        added = []
        for name, category, title, lines in DEMO_WELBOX:
            added.append(_demo_upload(patient, name, category, demo_text_pdf(title, lines)))
        box_services.document_share(actor=patient, document=added[0], doctor=doctor)
        folder = box_services.folder_create(actor=doctor, name="Conti Anna", patient=patient)
        note = "Prima visita cardiologica: pressione 130/85, ECG nella norma. Controllo tra 6 mesi.\n"
        added.append(_demo_upload(doctor, "Anamnesi e visita.txt", "report", note.encode(), folder=folder))
        box_services.folder_create(actor=doctor, name="De Luca Giorgio")
        return len(added) if box_selectors.document_list_for_user(patient).exists() else 0

    def _dicom(self) -> int:
        from telemed.boxes.models import Folder
        from telemed.dicom import selectors as dicom_selectors

        patient = User.objects.get(email=self._email("paziente"))
        doctor = User.objects.get(email=self._email("medico"))
        imported = 0
        if not dicom_selectors.studies_owned_by(patient).exists():
            imported += demo_study_import(patient).imported_count
        # The same MR in the doctor's Medbox, in the patient's folder, to send in Intramed.
        if not dicom_selectors.studies_owned_by(doctor).exists():
            folders = Folder.objects.filter(box__owner=doctor)
            folder = folders.filter(patient=patient).first() or folders.first()
            folder = folder or box_services.folder_create(actor=doctor, name="Radiologia")
            imported += demo_study_import(doctor, folder=folder).imported_count
        return imported

    def _billing(self) -> int:
        from django.utils import timezone

        from telemed.billing import pricing

        staff = User.objects.get(email=self._email("staff"))
        for name, for_box, gigabytes, price in DEMO_STORAGE_PLANS:
            storage_purchases.storage_plan_set(
                actor=staff, name=name, for_box=for_box, extra_gigabytes=gigabytes, price=Decimal(price)
            )
        doctor = User.objects.get(email=self._email("medico")).doctor_profile
        if billing_selectors.invoices_of_doctor(doctor).exists() or billing_selectors.services_to_bill(doctor).exists():
            return 0
        patients = {local: User.objects.get(email=self._email(local)) for local in ("paziente", "paziente2")}
        now = timezone.now()
        delivered = []
        for local, kind, minutes, days_ago, label in DEMO_BILLABLE:
            when = now - datetime.timedelta(days=days_ago)
            delivered.append(
                proformas.billable_service_register(
                    doctor=doctor,
                    patient=patients[local],
                    kind=kind,
                    duration_minutes=minutes,
                    breakdown=pricing.price_service(doctor=doctor, kind=kind, duration=minutes),
                    accepted_at=when - datetime.timedelta(hours=2),
                    delivered_at=when,
                    source_label=label,
                    source_key=f"demo:{label}",
                )
            )
        # The first two are billed: one awaits paziente@'s transfer, the other was paid at the desk.
        drafts = proformas.proformas_draft(actor=doctor.user, service_ids=[delivered[0].pk, delivered[1].pk])
        awaiting, paid = payments.proformas_validate(actor=doctor.user, include=[p.pk for p in drafts])
        payments.payment_mark_paid(actor=staff, payment_request=paid, reason="Demo: paid at the front desk")
        return len(delivered)

    def _consults(self) -> int:
        import uuid

        from telemed.consults import info_requests as consult_info_requests
        from telemed.consults import services as consult_services
        from telemed.consults.models import Consult
        from telemed.dicom import selectors as dicom_selectors

        patient = User.objects.get(email=self._email("paziente"))
        doctor = User.objects.get(email=self._email("medico"))
        if Consult.objects.filter(patient=patient, doctor=doctor.doctor_profile).exists():
            return 0

        def key(name: str) -> uuid.UUID:  # the same key on every run: a repeated request stores nothing twice
            return uuid.uuid5(uuid.NAMESPACE_URL, f"telemed-demo:{name}")

        def ask(name: str, kind: str, question: str, studies=()):
            draft = consult_services.ConsultDraft(
                kind=kind, question=question, study_ids=tuple(studies), accepted_terms=True, idempotency_key=key(name)
            )
            consult, _created = consult_services.consult_request(
                actor=patient, doctor=doctor.doctor_profile, draft=draft
            )
            return consult

        ask(
            "consult-waiting",
            "base",
            "Da qualche settimana ho la pressione alta al mattino (150/95). Devo preoccuparmi?",
        )
        study = dicom_selectors.studies_owned_by(patient).first()
        started = ask(
            "consult-priority", "priority" if study else "base",
            "Ho mal di testa frequenti: allego la risonanza fatta il mese scorso. Può darci un'occhiata?",
            [study.pk] if study else [],
        )  # fmt: skip
        consult_services.consult_start(actor=doctor, consult=started)
        consult_services.consult_message_send(
            actor=doctor, consult=started, text="Da quanto tempo ha questi mal di testa?"
        )
        consult_services.consult_message_send(
            actor=patient, consult=started, text="Da circa due mesi, soprattutto la sera."
        )
        declined = ask("consult-declined", "base", "Mi può prescrivere un antibiotico per il mal di gola?")
        consult_services.consult_decline(
            actor=doctor, consult=declined, reason="Per una prescrizione serve una visita: prenoti una video visita."
        )
        cancelled = ask("consult-cancelled", "base", "Vorrei un parere sulle analisi del sangue.")
        consult_services.consult_cancel(actor=patient, consult=cancelled)
        consult_info_requests.info_request_send(
            actor=patient, doctor=doctor.doctor_profile, text="Buongiorno, lo studio è aperto anche il sabato mattina?",
            idempotency_key=key("info-opening-hours"),
        )  # fmt: skip
        return 4

    def _answered_consult(self) -> int:
        import uuid

        from telemed.consults import services as consult_services
        from telemed.consults.models import Consult, ConsultStatus
        from telemed.reports import services as report_services
        from telemed.signatures import services as signing
        from telemed.signatures import totp

        patient = User.objects.get(email=self._email("paziente"))
        doctor = User.objects.get(email=self._email("medico"))
        if Consult.objects.filter(
            patient=patient, doctor=doctor.doctor_profile, status=ConsultStatus.ANSWERED
        ).exists():
            return 0

        device = signing.signing_device_enrol_start(actor=doctor)
        signing.signing_device_confirm(actor=doctor, code=totp.code_at(device, time.time()))
        draft = consult_services.ConsultDraft(
            kind="base", question="Ho fatto un ECG di controllo: me lo può commentare?", accepted_terms=True,
            idempotency_key=uuid.uuid5(uuid.NAMESPACE_URL, "telemed-demo:consult-answered"),
        )  # fmt: skip
        consult, _created = consult_services.consult_request(actor=patient, doctor=doctor.doctor_profile, draft=draft)
        consult_services.consult_start(actor=doctor, consult=consult)
        consult = consult_services.consult_report_start(actor=doctor, consult=consult)
        report_services.report_update(
            actor=doctor, report=consult.report,
            content=report_services.ReportContent(
                diagnosis="ECG nella norma",
                findings="Ritmo sinusale, FC 68 bpm. Conduzione e ripolarizzazione regolari.",
                notes="Nessun accertamento ulteriore. Controllo tra 12 mesi.",
            ),
        )  # fmt: skip
        # The next step's code: the one used to enrol cannot be used again.
        consult_services.consult_answer(
            actor=doctor, consult=consult, code=totp.code_at(device, time.time() + totp.STEP_SECONDS)
        )
        return 1

    def _care(self) -> int:
        from telemed.care import selectors as care_selectors
        from telemed.care import services as care_services
        from telemed.messaging import services as messaging_services

        doctor, colleague = (User.objects.get(email=self._email(local)) for local in ("medico", "medico2"))
        added = 0
        for local in ("paziente", "paziente2"):
            patient = User.objects.get(email=self._email(local))
            if care_selectors.open_link_between(doctor=doctor, patient=patient) is None:
                link = care_services.care_request(
                    actor=patient, doctor=doctor, message="Sono in cura presso il suo studio."
                )
                care_services.care_accept(actor=doctor, link=link)
                added += 1
        if added:
            patient = User.objects.get(email=self._email("paziente"))
            conversation = messaging_services.conversation_start_with_patient(
                actor=doctor, patient=patient, subject="Controllo pressione", allow_replies=True,
                text="Buongiorno Anna, ho visto l'ECG: è nella norma. Misuri la pressione due volte a settimana e mi scriva i valori.",
            )  # fmt: skip
            messaging_services.message_send(
                actor=patient, conversation=conversation, text="Grazie dottore, lunedì 128/82 e giovedì 131/84."
            )
            messaging_services.conversation_start_intramed(
                actor=doctor, doctors=[colleague], subject="Parere su un nevo",
                text="Ciao Giulia, una mia paziente ha un nevo che è cambiato negli ultimi mesi: posso mandartela per un consulto?",
            )  # fmt: skip
            added += 2
        return added

    def _reminders(self) -> int:
        from django.utils import timezone

        from telemed.reminders import services as reminder_services
        from telemed.reminders.models import Reminder
        from telemed.reminders.recurrence import Frequency, Recurrence

        patient = User.objects.get(email=self._email("paziente"))
        doctor = User.objects.get(email=self._email("medico"))
        if Reminder.objects.filter(patient=patient).exists():
            return 0
        today = timezone.localdate()
        ReminderText = reminder_services.ReminderText
        reminder_services.reminder_create(
            actor=doctor, patient=patient, text=ReminderText(kind="therapy", title="Ramipril 5 mg", notes="Una compressa al mattino, a stomaco pieno."),
            recurrence=Recurrence(start=today, times=(datetime.time(8),), frequency=Frequency.DAILY, until=today + datetime.timedelta(days=90)),
        )  # fmt: skip
        reminder_services.reminder_create(
            actor=patient, patient=patient, text=ReminderText(kind="follow_up", title="Misurare la pressione"),
            recurrence=Recurrence(start=today, times=(datetime.time(7, 30),), frequency=Frequency.WEEKLY, weekdays=(0, 3)),
        )  # fmt: skip
        reminder_services.reminder_create(
            actor=patient, patient=patient, text=ReminderText(kind="appointment", title="Esami del sangue", notes="A digiuno, portare l'impegnativa."),
            recurrence=Recurrence(start=today + datetime.timedelta(days=10), times=(datetime.time(7, 45),)),
        )  # fmt: skip
        return 3

    def _visits(self) -> int:
        from django.utils import timezone

        from telemed.visits import availability as visit_availability
        from telemed.visits import selectors as visit_selectors
        from telemed.visits import services as visit_services
        from telemed.visits.slots import free_slots

        opened = 0
        for local, _base, _imaging, _priority, videos in TARIFFS:
            doctor = User.objects.get(email=self._email(local))
            agenda = visit_availability.agenda_of(doctor)
            if not videos or agenda.rules.exists():
                continue
            visit_availability.agenda_update(
                actor=doctor, slot_minutes=min(videos), horizon_days=30, min_notice_hours=2, cancel_notice_hours=24, reschedule_notice_hours=24
            )  # fmt: skip
            for weekday in range(5):
                for start, end in ((9, 13), (15, 18)):
                    visit_availability.availability_rule_add(
                        actor=doctor, weekday=weekday, start=datetime.time(start), end=datetime.time(end)
                    )
            opened += 1
        patient = User.objects.get(email=self._email("paziente"))
        doctor = User.objects.get(email=self._email("medico"))
        if visit_selectors.bookings_of(patient).exists():
            return opened
        # The first free slot at least two days ahead, so that the demo visit stays in the future for a while.
        not_before = timezone.now() + datetime.timedelta(days=2)
        slot = next(
            (slot for slot in free_slots(visit_availability.agenda_of(doctor)) if slot.start >= not_before), None
        )
        if slot is None:
            return opened
        total = visit_services.visit_quote(doctor=doctor).patient_total
        visit_services.booking_create(actor=patient, doctor=doctor, start=slot.start, accepted_total=total)
        return opened + 1


# storage plan, for which boxes, extra GB, price (EUR, VAT included)
DEMO_STORAGE_PLANS = [
    ("Welbox Plus", "welbox", 5, "9.90"),
    ("Welbox Family", "welbox", 20, "29.90"),
    ("Medbox Studio", "medbox", 50, "49.00"),
]
# who, service, minutes, delivered how many days ago, description: medico@'s delivered services.
DEMO_BILLABLE = [
    ("paziente", "base", None, 6, "Consulto: controllo pressione"),
    ("paziente", "video", 30, 4, "Videovisita cardiologica di controllo"),
    ("paziente2", "priority", None, 2, "Consulto prioritario: dolore toracico"),
    ("paziente2", "imaging", None, 1, "Consulto con immagini: ecocardiogramma"),
]


# name, category, PDF title, PDF lines: the demo patient's Welbox.
DEMO_WELBOX = [
    (
        "Referto ECG 2026.pdf",
        "report",
        "Referto elettrocardiogramma",
        [
            "Ritmo sinusale, FC 68 bpm.",
            "Nessuna alterazione della ripolarizzazione.",
            "Dott. Marco Bianchi, cardiologo",
        ],
    ),
    (
        "Ricetta ramipril.pdf",
        "prescription",
        "Prescrizione",
        ["Ramipril 5 mg, 1 compressa al mattino.", "Durata: 3 mesi."],
    ),
    (
        "Esami del sangue marzo 2026.pdf",
        "exam",
        "Esami ematochimici",
        ["Emoglobina 13,8 g/dL", "Colesterolo totale 182 mg/dL", "Glicemia 92 mg/dL"],
    ),
]


def _demo_upload(user: User, name: str, category: str, content: bytes, folder=None):
    """Through the same resumable-upload services as the page (one chunk)."""
    upload = box_uploads.upload_start(actor=user, name=name, size=len(content), category=category, folder=folder)
    box_uploads.upload_append(actor=user, upload=upload, offset=0, stream=io.BytesIO(content), length=len(content))
    upload.refresh_from_db()
    return upload.document


def demo_text_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF with a title and a few lines of text (Helvetica, WinAnsi), for demo documents."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    shown = " ".join(f"({escape(line)}) '" for line in lines)
    content = f"BT /F1 20 Tf 72 770 Td ({escape(title)}) Tj /F1 12 Tf 16 TL 0 -14 Td {shown} ET".encode("cp1252")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        pdf += b"%010d 00000 n \n" % offset
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)
