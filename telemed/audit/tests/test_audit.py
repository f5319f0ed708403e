"""The audit trail: what an entry holds, who sees it, that nobody edits it, and retention."""

import datetime

import pytest
from django.contrib.admin.sites import site
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone, translation

from conftest import log_in
from telemed.audit import selectors, services
from telemed.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def patient(make_patient):
    return make_patient(first_name="Anna", last_name="Conti")


@pytest.fixture
def doctor(make_doctor):
    return make_doctor(first_name="Marco", last_name="Bianchi")


def record(actor, patient, **request_meta):
    request = RequestFactory().get("/", **request_meta)
    # Any model row can be the target: here the patient's profile stands for a clinical record.
    return services.audit_record(
        actor=actor, action="view", target=patient.patient_profile, patient=patient, request=request
    )


def test_an_entry_says_who_what_when_and_from_where(patient, doctor):
    before = timezone.now()
    entry = record(doctor, patient, REMOTE_ADDR="2001:db8::1", HTTP_USER_AGENT="Mozilla/5.0\x00\x1b[31m")
    assert entry.actor == doctor and entry.actor_label == "Marco Bianchi"
    assert entry.action == "view" and entry.target_type == "accounts.patientprofile"
    assert entry.target_id == str(patient.patient_profile.pk) and entry.patient == patient
    assert entry.ip_address == "2001:db8::1" and entry.user_agent == "Mozilla/5.0[31m"
    assert before <= entry.at <= timezone.now()
    assert list(selectors.audit_entries_for_target(patient.patient_profile)) == [entry]


def test_a_bad_address_is_kept_empty_and_an_unknown_action_is_a_programming_error(patient, doctor):
    assert record(doctor, patient, REMOTE_ADDR="not an address").ip_address is None
    with pytest.raises(ValueError):
        services.audit_record(actor=doctor, action="peek", target=patient.patient_profile, patient=patient)


def test_entries_cannot_be_changed_nor_deleted_one_by_one(patient, doctor):
    entry = record(doctor, patient)
    entry.actor_label = "somebody else"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditEntry.objects.filter(pk=entry.pk).update(actor_label="x")
    assert AuditEntry.objects.get(pk=entry.pk).actor_label == "Marco Bianchi"


def test_the_back_office_only_reads(patient, doctor, rf):
    from telemed.accounts.models import User

    staff = User.objects.create_superuser("staff@example.test", "a-long-password-1", first_name="S", last_name="T")
    request = rf.get("/")
    request.user = staff
    admin = site._registry[AuditEntry]
    entry = record(doctor, patient)
    assert admin.has_view_permission(request, entry)
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request, entry)
    assert not admin.has_delete_permission(request, entry)
    client = Client()
    log_in(client, staff)
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403


def test_the_patient_page_shows_who_accessed_their_documents_and_nothing_else(patient, doctor, make_patient):
    other = make_patient(first_name="Giorgio", last_name="Neri")
    record(doctor, patient, REMOTE_ADDR="192.0.2.7")
    record(patient, patient)
    record(doctor, other)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(patient)
    page = client.get(reverse("audit:my_access_log")).content.decode()
    assert "Marco Bianchi" in page and "192.0.2.7" in page and "You" in page
    assert page.count("<tr>") - 1 == 2  # header row + two entries about Anna
    page = client.get(reverse("audit:my_access_log"), {"others": "1", "page": "nonsense"}).content.decode()
    assert page.count("<tr>") - 1 == 1
    client.force_login(other)
    assert client.get(reverse("audit:my_access_log")).content.decode().count("<tr>") - 1 == 1


def test_only_patients_have_the_page(doctor, client):
    assert client.get(reverse("audit:my_access_log")).status_code == 302
    log_in(client, doctor)
    assert client.get(reverse("audit:my_access_log")).status_code == 403


def _aged(entry, months: int, days: int = 0):
    from dateutil.relativedelta import relativedelta

    at = timezone.now() - relativedelta(months=months) - datetime.timedelta(days=days)
    # A direct SQL update stands in for the passing of time (the model refuses updates on purpose).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET at = %s WHERE id = %s", [at, entry.pk])


def test_retention_keeps_at_least_24_months_whatever_the_setting(patient, doctor, settings):
    young, old = record(doctor, patient), record(doctor, patient)
    _aged(young, 23, days=27)
    _aged(old, 24, days=2)
    settings.AUDIT_RETENTION_MONTHS = 6  # below the floor: ignored
    assert services.audit_retention_months() == 24
    assert services.audit_retention_purge() == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [young.pk]
    settings.AUDIT_RETENTION_MONTHS = 36
    older = record(doctor, patient)
    _aged(older, 30)
    assert services.audit_retention_purge() == 0


def test_the_purge_runs_daily_on_the_task_worker(patient, doctor, run_tasks):
    from django_tasks_db.models import DBTaskResult

    old = record(doctor, patient)
    _aged(old, 25)
    assert services.audit_retention_schedule() is True
    assert services.audit_retention_schedule() is False  # one chain at a time
    run_tasks()
    assert not AuditEntry.objects.exists()
    waiting = DBTaskResult.objects.get(status="READY")
    assert waiting.run_after > timezone.now() + datetime.timedelta(hours=23)
    assert services.audit_retention_schedule() is False
