import pytest


@pytest.fixture(autouse=True)
def export_files(files_in_tmp):
    """Each test stores its documents and exports under its own temporary folder."""
    return files_in_tmp


def paid_invoice(doctor, patient):
    """An invoice of ``doctor`` to ``patient`` for one base consult, paid (recorded by staff)."""
    from decimal import Decimal

    from django.utils import timezone

    from telemed.accounts.models import User
    from telemed.billing import payments, pricing, proformas, tariffs

    profile = doctor.doctor_profile
    tariffs.tariff_set(actor=doctor, doctor=profile, kind="base", fee=Decimal("80.00"), response_value=72,
                       response_unit="hours")  # fmt: skip
    service = proformas.billable_service_register(
        doctor=profile, patient=patient, kind="base", duration_minutes=None,
        breakdown=pricing.price_service(doctor=profile, kind="base"), accepted_at=timezone.now(),
        source_label="Consulto: esami del sangue",
    )  # fmt: skip
    draft = proformas.proformas_draft(actor=doctor, service_ids=[service.pk])[0]
    request = payments.proformas_validate(actor=doctor, include=[draft.pk])[0]
    staff = User.objects.filter(is_staff=True).first() or User.objects.create_superuser(
        "staff.rights@example.test", "a-staff-password-2026", first_name="Staff", last_name="telemed"
    )
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    request.refresh_from_db()
    return request.invoice


def confirmation_path(message) -> str:
    """The path of the confirmation link in the deletion e-mail."""
    import re

    return re.search(r"https?://[^/\s]+(/rights/erasure/confirm/\S+/)", message.body).group(1)
