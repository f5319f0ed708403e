import datetime
import itertools

import pytest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from telemed.accounts.models import DoctorProfile, PatientProfile, Role, Structure, StructureManagerProfile, User
from telemed.billing.models import Charity
from telemed.portal.management.commands.load_demo import demo_codice_fiscale, demo_iban, demo_partita_iva

PASSWORD = "a-long-test-password-2026"
_numbers = itertools.count(1)


def _user(role: str, first: str, last: str) -> User:
    n = next(_numbers)
    return User.objects.create_user(f"{role}{n}@example.test", PASSWORD, first_name=first, last_name=last, role=role)


@pytest.fixture
def make_structure(db):
    def make(name: str = "Poliambulatorio Test") -> Structure:
        n = next(_numbers)
        structure = Structure.objects.create(
            name=name, slug=f"structure-{n}", partita_iva=demo_partita_iva(800000 + n),
            address="Via Dante 1", city="Milano", province="MI",
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
            user=user, slug=f"dr-{n}", codice_fiscale=demo_codice_fiscale(last, first, birth, "M", "F205"),
            birth_date=birth, sex="M", phone="+39 347 000 0000", ordine_province="MI", ordine_number=str(50000 + n),
            partita_iva=demo_partita_iva(300000 + n), iban=demo_iban(n), practice_address="Via Roma 1",
            practice_city="Milano", practice_postcode="20121", practice_province="MI", structure=structure,
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
        user=user, codice_fiscale=demo_codice_fiscale("Conti", "Anna", datetime.date(1990, 5, 21), "F", "F205"),
        birth_date=datetime.date(1990, 5, 21), sex="F", phone="+39 333 100 0001",
    )
    return user


@pytest.fixture
def charity(db) -> Charity:
    return Charity.objects.create(name="Test charity ETS")


@pytest.fixture
def doctor_client(client, doctor):
    """A client logged in as ``doctor``, second factor passed."""
    return _logged_in_doctor(client, doctor)


def _logged_in_doctor(client, doctor: DoctorProfile):
    device = TOTPDevice.objects.create(user=doctor.user, name="test", confirmed=True)
    client.force_login(doctor.user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def login_doctor():
    return _logged_in_doctor
