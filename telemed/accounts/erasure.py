"""The account's part of its erasure (GDPR art. 17): marking it as leaving, and anonymising it.

The rights app runs the erasure (asked, confirmed by e-mail, a grace period, then the erasure of
every app's data); accounts owns the account itself:
- ``erasure_due_at`` is set when the owner confirms and cleared if they cancel. While it is set
  a doctor is no longer public (``selectors.public_doctors``): the directory drops the entry.
- Anonymising keeps the row (invoices, the ledger, reports and the access log point to it and
  must stay) but removes the person from it: the name becomes a placeholder, the e-mail an
  address that cannot receive mail, the password unusable, the account inactive; the profile's
  identity is overwritten, except a doctor's fiscal and professional identity, which the
  invoices they issued and the ledger still need; consents, sessions, authenticators, the
  security trail and certifications (their files too) go.
- Invoices copy every party's data when issued (``billing.Invoice.buyer``/``seller``): they keep
  the patient's fiscal data as invoiced, whatever happens to the profile.
"""

import datetime

from django.core.files.storage import default_storage
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from telemed.accounts import sessions
from telemed.accounts.models import (
    AccountSession,
    Certification,
    Consent,
    DoctorProfile,
    PatientProfile,
    SecondFactorThrottle,
    SecretaryAssignment,
    SecurityEvent,
    User,
)

ERASED_FIRST_NAME = "Account"
ERASED_LAST_NAME = "eliminato"
ERASED_BIRTH_DATE = datetime.date(1900, 1, 1)


def erased_email(user: User) -> str:
    """An address that names the erased account and can receive nothing (.invalid, RFC 2606)."""
    return f"erased-{user.pk}@erased.invalid"


@transaction.atomic
def account_erasure_schedule(*, user: User, due_at: datetime.datetime) -> None:
    User.objects.filter(pk=user.pk).update(erasure_due_at=due_at)
    user.erasure_due_at = due_at


@transaction.atomic
def account_erasure_unschedule(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(erasure_due_at=None)
    user.erasure_due_at = None


def _remove_files(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


@transaction.atomic
def account_anonymise(*, user: User) -> None:
    """Remove the person from the account (see the module's rules); run again, it changes nothing."""
    user = User.objects.select_for_update().get(pk=user.pk)
    sessions.sessions_end(user=user)
    AccountSession.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    SecondFactorThrottle.objects.filter(user=user).delete()
    SecurityEvent.objects.filter(user=user).delete()
    Consent.objects.filter(user=user).delete()
    SecretaryAssignment.objects.filter(doctor__user=user).delete()  # their secretaries stop working for them
    PatientProfile.objects.filter(user=user).update(
        codice_fiscale=f"ERASED{user.pk:010d}", birth_date=ERASED_BIRTH_DATE, sex="", phone=""
    )
    doctor = DoctorProfile.objects.filter(user=user).first()
    if doctor is not None:
        certifications = Certification.objects.filter(doctor=doctor)
        names = list(certifications.values_list("file", flat=True))
        certifications.delete()
        transaction.on_commit(lambda: _remove_files(names))
        doctor.presentation = ""
        doctor.phone = ""
        doctor.available_for_second_opinion = False
        doctor.save(update_fields=["presentation", "phone", "available_for_second_opinion", "updated_at"])
    user.first_name, user.last_name = ERASED_FIRST_NAME, ERASED_LAST_NAME
    user.email = erased_email(user)
    user.set_unusable_password()
    user.is_active = False
    user.email_verified_at = None
    user.erasure_due_at = None
    user.save()
