"""The erasure of an account: asked after the password (and the second factor), confirmed by the
mailed link, erased after the grace period with what the law keeps kept; cancelled, it changes
nothing; every step is in the access log."""

import datetime

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD, verified_client
from telemed.accounts.models import Consent, User
from telemed.audit.models import AuditEntry
from telemed.billing import selectors as billing_selectors
from telemed.billing.models import Invoice
from telemed.boxes.models import Box, Document
from telemed.care import services as care
from telemed.consults.tests.conftest import welbox_document
from telemed.dicom.models import Instance, Study
from telemed.directory import services as directory
from telemed.directory.models import DirectoryEntry
from telemed.messaging import services as messaging
from telemed.messaging.models import Message
from telemed.notifications.models import Notification
from telemed.portal.management.commands.load_demo import demo_study_import
from telemed.reminders import services as reminders
from telemed.reminders.models import Reminder
from telemed.reminders.recurrence import Recurrence
from telemed.rights import erasure
from telemed.rights.models import ErasureRequest
from telemed.rights.tests.conftest import confirmation_path, paid_invoice
from telemed.visits.models import Booking

pytestmark = pytest.mark.django_db


def linked(doctor, patient):
    care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor))


def ask_and_confirm(client: Client, user, run_tasks, **form) -> ErasureRequest:
    mail.outbox.clear()
    response = client.post(reverse("rights:erasure"), {"password": PASSWORD, **form})
    assert response.status_code == 302, response.content.decode()[:2000]
    run_tasks()
    message = next(m for m in mail.outbox if m.to == [user.email] and "/rights/erasure/confirm/" in m.body)
    path = confirmation_path(message)
    assert Client().get(path).status_code == 200  # the page with the button confirms nothing
    assert ErasureRequest.objects.get(user=user).state == "asked"
    assert Client().post(path).status_code == 200
    return ErasureRequest.objects.get(user=user)


def test_a_patient_is_erased_after_the_grace_period_and_what_the_law_keeps_stays_with_the_doctor(
    make_patient, make_doctor, run_tasks, reference_data, django_capture_on_commit_callbacks
):
    doctor, patient = make_doctor(), make_patient(email="anna.erase@example.test")
    linked(doctor, patient)
    document = welbox_document(patient, name="Esame sangue.pdf")
    demo_study_import(patient)
    run_tasks()
    files = [document.file.name, *Instance.objects.filter(box__owner=patient).values_list("file", flat=True)]
    assert all(default_storage.exists(name) for name in files)
    invoice = paid_invoice(doctor, patient)
    run_tasks()  # the invoice's PDF and its delivery
    buyer = Invoice.objects.get(pk=invoice.pk).buyer
    reminders.reminder_create(
        actor=patient, patient=patient, text=reminders.ReminderText(kind="therapy", title="Cardioaspirina"),
        recurrence=Recurrence(start=timezone.localdate() + datetime.timedelta(days=1), times=(datetime.time(8),)),
    )  # fmt: skip
    conversation = messaging.conversation_start_with_patient(actor=doctor, patient=patient, text="Come sta?")
    Message.objects.create(conversation=conversation, sender=patient, text="Ho la pressione alta")

    client = verified_client(patient, language="en")
    page = client.get(reverse("rights:erasure")).content.decode()
    assert "What is kept, and why" in page and "2220" in page
    erasure_request = ask_and_confirm(client, patient, run_tasks)
    assert erasure_request.state == "scheduled" and erasure_request.due_at > timezone.now() + datetime.timedelta(
        days=29
    )
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert 'data-testid="erasure-banner"' in page  # logged in during the grace period: the state shows

    assert erasure.erasures_run_due() == 0  # not yet due: nothing happens
    assert Document.objects.filter(box__owner=patient).exists()
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the erasure commits
        assert erasure.erasures_run_due(now=erasure_request.due_at + datetime.timedelta(seconds=1)) == 1

    patient.refresh_from_db()
    assert not patient.is_active and not patient.has_usable_password() and patient.email.endswith(".invalid")
    assert "Anna" not in patient.get_full_name() and User.objects.get(pk=patient.pk).patient_profile.phone == ""
    login = Client().post(reverse("accounts:login"), {"username": "anna.erase@example.test", "password": PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in login.client.session
    assert not Document.objects.filter(box__owner=patient).exists() and not Study.objects.filter(box__owner=patient)
    assert not any(default_storage.exists(name) for name in files)
    box = Box.objects.get(owner=patient)
    assert box.used_bytes == 0 and box.reserved_bytes == 0
    assert not Reminder.objects.filter(patient=patient).exists() and not Consent.objects.filter(user=patient).exists()
    assert not Notification.objects.filter(recipient=patient).exists()
    assert list(Message.objects.filter(sender=patient).values_list("text", flat=True)) == [""]
    assert Message.objects.filter(sender=doctor, text="Come sta?").exists()  # the doctor's own words stay
    # The invoice stays, for the doctor, with the patient's data as invoiced.
    kept = billing_selectors.invoice_for_user(doctor, invoice.pk)
    assert kept.buyer == buyer and kept.pdf and default_storage.exists(kept.pdf.name)
    erasure_request.refresh_from_db()
    assert erasure_request.state == "erased" and erasure_request.outcome["invoices_kept"] == 1
    assert erasure_request.outcome["documents"] >= 1 and erasure_request.outcome["studies"] == 1
    actions = set(AuditEntry.objects.filter(target_id=str(erasure_request.pk)).values_list("action", flat=True))
    assert actions == {"erasure_asked", "erasure_confirmed", "erased"}
    assert erasure.erasures_run_due(now=erasure_request.due_at + datetime.timedelta(days=1)) == 0


def test_a_wrong_password_asks_nothing_and_a_cancelled_deletion_erases_nothing(make_patient, run_tasks):
    patient = make_patient()
    welbox_document(patient)
    client = verified_client(patient, language="en")
    response = client.post(reverse("rights:erasure"), {"password": "not-the-password"})
    assert response.status_code == 400 and "The password is not right." in response.content.decode()
    assert not ErasureRequest.objects.exists()

    erasure_request = ask_and_confirm(client, patient, run_tasks)
    assert client.post(reverse("rights:erasure_cancel")).status_code == 302
    erasure_request.refresh_from_db()
    patient.refresh_from_db()
    assert erasure_request.state == "cancelled" and patient.erasure_due_at is None
    assert erasure.erasure_run(erasure_id=str(erasure_request.pk), now=erasure_request.due_at) is False
    assert patient.is_active and Document.objects.filter(box__owner=patient).exists()
    assert "erasure-banner" not in client.get(reverse("portal:dashboard")).content.decode()
    assert AuditEntry.objects.filter(target_id=str(erasure_request.pk), action="erasure_cancelled").count() == 1
    # Nothing left to cancel: a clear message, no change.
    response = client.post(reverse("rights:erasure_cancel"), follow=True)
    assert "There is no deletion to cancel." in response.content.decode()


def test_a_bad_or_used_link_is_refused_with_a_message(make_patient, run_tasks):
    patient = make_patient()
    assert Client().post("/rights/erasure/confirm/not-a-token/").status_code == 400
    erasure_request = ask_and_confirm(verified_client(patient), patient, run_tasks)
    erasure.erasure_cancel(actor=patient)
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("rights:erasure_confirm", args=[erasure.confirm_token(erasure_request)])
    )
    assert response.status_code == 400 and "not valid any more" in response.content.decode()
    assert ErasureRequest.objects.get(pk=erasure_request.pk).state == "cancelled"


def test_a_doctor_needs_the_second_factor_leaves_the_directory_at_once_and_patients_are_told(
    make_doctor, make_patient, run_tasks
):
    doctor, patient = make_doctor(), make_patient(email="paolo.patient@example.test")
    linked(doctor, patient)
    directory.directory_entries_refresh(doctor_ids=[doctor.doctor_profile.pk])
    assert DirectoryEntry.objects.filter(doctor=doctor.doctor_profile).exists()
    invoice = paid_invoice(doctor, patient)
    client = verified_client(doctor, language="en")

    response = client.post(reverse("rights:erasure"), {"password": PASSWORD})
    assert response.status_code == 400 and not ErasureRequest.objects.exists()  # the code is asked too
    erasure_request = ask_and_confirm(client, doctor, run_tasks, current_code=_code(doctor))
    assert not DirectoryEntry.objects.filter(doctor=doctor.doctor_profile).exists()
    assert Notification.objects.filter(recipient=patient, kind=erasure.NOTIFY_DOCTOR_LEAVING).count() == 1
    mail.outbox.clear()
    run_tasks()
    assert [m.to for m in mail.outbox] == [[patient.email]] and doctor.last_name in mail.outbox[0].subject

    start = timezone.now() + datetime.timedelta(days=40)
    visit = Booking.objects.create(doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30),
                                   duration_minutes=30, accepted_at=timezone.now())  # fmt: skip
    erasure.erasures_run_due(now=erasure_request.due_at)
    visit.refresh_from_db()
    assert visit.status == "cancelled"  # a visit not held yet is cancelled, and the patient told
    assert Notification.objects.filter(recipient=patient, kind="visit_cancelled").exists()
    doctor.refresh_from_db()
    assert not doctor.is_active and Invoice.objects.filter(pk=invoice.pk).exists()
    assert billing_selectors.invoice_for_user(patient, invoice.pk) == invoice
    # The doctor's fiscal identity stays: the invoices they issued and the ledger need it.
    assert User.objects.get(pk=doctor.pk).doctor_profile.partita_iva


def test_the_erasure_tasks_run_twice_mail_once_and_erase_once(
    make_patient, make_doctor, run_tasks, run_tasks_twice, settings
):
    settings.ERASURE_GRACE_DAYS = 0  # due at once, so that the queue runs the erasure now
    doctor, patient = make_doctor(), make_patient()
    linked(doctor, patient)
    welbox_document(doctor, name="Nota.pdf")
    run_tasks()
    mail.outbox.clear()
    ask_and_confirm(verified_client(doctor), doctor, run_tasks_twice, current_code=_code(doctor))
    assert len([m for m in mail.outbox if m.to == [doctor.email]]) == 1  # the link, once
    mail.outbox.clear()
    names = run_tasks_twice()
    assert {"send_doctor_leaving_notice", "account_erase"} <= set(names)
    assert [m.to for m in mail.outbox] == [[patient.email]]
    erased = ErasureRequest.objects.get(user=doctor)
    assert erased.state == "erased" and erased.outcome["documents"] == 1
    assert AuditEntry.objects.filter(target_id=str(erased.pk), action="erased").count() == 1


def _code(doctor) -> str:
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return f"{totp(TOTPDevice.objects.get(user=doctor, confirmed=True).bin_key):06d}"


def test_a_doctor_who_cancels_is_listed_again(make_doctor, run_tasks):
    doctor = make_doctor()
    directory.directory_entries_refresh(doctor_ids=[doctor.doctor_profile.pk])
    client = verified_client(doctor, language="en")
    ask_and_confirm(client, doctor, run_tasks, current_code=_code(doctor))
    assert not DirectoryEntry.objects.filter(doctor=doctor.doctor_profile).exists()
    assert client.post(reverse("rights:erasure_cancel")).status_code == 302
    assert DirectoryEntry.objects.filter(doctor=doctor.doctor_profile).exists()
    assert User.objects.get(pk=doctor.pk).erasure_due_at is None


def test_staff_have_no_deletion_page_and_nobody_cancels_for_someone_else(make_patient, client):
    staff = User.objects.create_superuser("staff.erasure@example.test", PASSWORD, first_name="S", last_name="T")
    assert verified_client(staff).get(reverse("rights:erasure")).status_code == 403
    assert client.get(reverse("rights:erasure")).status_code == 302  # to the login
    patient, other = make_patient(), make_patient()
    ErasureRequest.objects.create(user=patient)
    response = verified_client(other, language="en").post(reverse("rights:erasure_cancel"), follow=True)
    assert "There is no deletion to cancel." in response.content.decode()
    assert ErasureRequest.objects.get(user=patient).state == "asked"
