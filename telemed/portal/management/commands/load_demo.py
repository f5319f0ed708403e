"""Load the demo data: doctors across specialties and cities (some in a structure),
patients, a secretary, a structure manager and a staff member, and the doctors'
tariffs (the structure's doctors' set by its manager) and one donation.

Idempotent: every account is looked up by e-mail first, and a doctor who already
has tariffs is left alone, so a second run changes nothing. Accounts and tariffs
are created through the same services that registration and the tariff pages use.
"""

import datetime
import io

from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from pypdf import PdfWriter
from schwifty import IBAN
from stdnum import luhn
from stdnum.it import codicefiscale

from telemed.accounts import services
from telemed.billing import selectors as billing_selectors
from telemed.billing import services as billing_services
from telemed.accounts.models import (
    Certification,
    CertificationKind,
    Language,
    Role,
    Sex,
    Specialty,
    User,
    VerificationStatus,
)

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
    ("medico", "Marco", "Bianchi", "M", (1974, 3, 12), "F205", "Milano", "MI", "20121", ["cardiologia"], ["it", "en"], True, True),
    ("medico2", "Giulia", "Russo", "F", (1981, 9, 4), "H501", "Roma", "RM", "00184", ["dermatologia"], ["it", "en", "fr"], False, False),
    ("medico3", "Luca", "Ferrari", "M", (1969, 1, 28), "A944", "Bologna", "BO", "40121", ["ortopedia", "medicina-dello-sport"], ["it"], True, True),
    ("medico4", "Francesca", "Esposito", "F", (1985, 6, 17), "F839", "Napoli", "NA", "80133", ["pediatria"], ["it", "es"], False, True),
    ("medico5", "Alessandro", "Romano", "M", (1977, 11, 2), "L219", "Torino", "TO", "10121", ["neurologia"], ["it", "de"], False, True),
    ("medico6", "Chiara", "Colombo", "F", (1979, 4, 23), "F205", "Milano", "MI", "20135", ["radiologia"], ["it", "en"], True, False),
    ("medico7", "Davide", "Ricci", "M", (1972, 8, 9), "D612", "Firenze", "FI", "50123", ["gastroenterologia"], ["it"], False, True),
    ("medico8", "Sara", "Marino", "F", (1988, 2, 14), "G273", "Palermo", "PA", "90133", ["ginecologia"], ["it", "en"], False, False),
    ("medico9", "Paolo", "Greco", "M", (1965, 12, 1), "L736", "Venezia", "VE", "30124", ["medicina-generale", "geriatria"], ["it", "en"], False, True),
    ("medico10", "Elena", "Bruno", "F", (1983, 7, 30), "A662", "Bari", "BA", "70121", ["endocrinologia", "diabetologia"], ["it"], False, True),
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
RESPONSE_TIMES = {"info": (2, "working_days"), "base": (72, "hours"), "imaging": (5, "working_days"), "priority": (24, "hours")}
# medico@ donates this share of each fee to the first charity of the list.
DEMO_DONATION_PERCENT = Decimal("10")

PATIENTS = [
    ("paziente", "Anna", "Conti", "F", (1990, 5, 21), "F205", "+39 333 100 0001"),
    ("paziente2", "Giorgio", "De Luca", "M", (1958, 10, 3), "H501", "+39 333 100 0002"),
]


class Command(BaseCommand):
    help = "Create the demo accounts (idempotent) and print the demo logins."

    def handle(self, *args, **options):
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
            "Demo logins (password %s): paziente@, paziente2@, medico@, medico2@, segreteria@, struttura@, staff@ %s"
            % (PASSWORD, DOMAIN)
        )

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

    def _doctor(self, index, local, first, last, sex, birth, comune, city, province, cap, specialties, languages, in_structure, verified) -> int:
        if self._exists(local):
            return 0
        birth_date = datetime.date(*birth)
        certifications = [
            services.UploadedCertification(kind=kind, name=f"{kind.value}.pdf", stream=(pdf := demo_pdf(kind.label)), size=len(pdf.getvalue()))
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
                billing_services.tariff_set(
                    actor=actor, doctor=doctor, kind=kind, fee=Decimal(fee), response_value=value, response_unit=unit
                )
        for minutes, fee in videos.items():
            billing_services.tariff_set(actor=actor, doctor=doctor, kind="video", duration_minutes=minutes, fee=Decimal(fee))
        return 1

    def _donation(self) -> None:
        doctor = User.objects.get(email=self._email("medico"))
        settings = billing_selectors.billing_settings_of(doctor.doctor_profile)
        charity = billing_selectors.charity_list().first()
        if charity is not None and (settings is None or settings.charity_id is None):
            billing_services.donation_set(actor=doctor, percent=DEMO_DONATION_PERCENT, charity=charity)
