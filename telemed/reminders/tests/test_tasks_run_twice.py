"""The detailed reminder e-mail, run twice, is sent once, and its delivery marked e-mailed."""

import pytest

from telemed.reminders import dispatch, services
from telemed.reminders.models import Delivery
from telemed.reminders.tests.test_dispatch import create, daily, tomorrow

pytestmark = pytest.mark.django_db


def test_the_detailed_email_is_sent_once(patient, run_tasks_twice, smtp_settings):
    run_tasks_twice()  # the registration e-mail
    smtp_settings.messages.clear()
    services.agenda_email_set(actor=patient, choice=services.EmailChoice.DETAILS)
    reminder = create(patient, patient, daily("08:00", start=tomorrow()), title="Cardioaspirin 100 mg")
    dispatch.record_due(now=reminder.next_fire_at)
    dispatch.send_pending(now=reminder.next_fire_at)
    assert run_tasks_twice() == ["send_reminder_details"]
    smtp_settings.wait_for("anna@example.test", subject="Cardioaspirin")
    assert len(smtp_settings.messages) == 1
    assert Delivery.objects.get(reminder=reminder).emailed_at is not None
