"""Every task of the platform is idempotent, and each has the test that runs it twice (or, for
cd_import_run, the test of the resumed run)."""

import importlib
import pathlib
import re

from django_tasks.base import Task

ROOT = pathlib.Path(__file__).resolve().parents[3]

# task -> the test that runs it twice (file::test), or that resumes it.
PROVEN = {
    "send_email_verification": "telemed/accounts/tests/test_tasks_run_twice.py::test_the_verification_email_is_sent_once",
    "send_invitation": "telemed/accounts/tests/test_tasks_run_twice.py::test_the_invitation_email_is_sent_once",
    "send_password_reset": "telemed/accounts/tests/test_tasks_run_twice.py::test_the_password_reset_email_is_sent_once",
    "send_security_notice": "telemed/accounts/tests/test_tasks_run_twice.py::test_the_security_notice_is_sent_once_to_each_address",
    "send_email_change_confirmation": "telemed/accounts/tests/test_tasks_run_twice.py::test_the_email_change_link_is_sent_once",
    "audit_retention_purge_task": "telemed/audit/tests/test_tasks_run_twice.py::test_the_purge_run_twice_keeps_one_chain",
    "send_payment_request": "telemed/billing/tests/test_tasks_run_twice.py::test_the_payment_request_and_a_reminder_are_sent_once",
    "send_payment_reminder": "telemed/billing/tests/test_tasks_run_twice.py::test_the_payment_request_and_a_reminder_are_sent_once",
    "deliver_invoice": "telemed/billing/tests/test_tasks_run_twice.py::test_the_invoice_is_delivered_and_emailed_once",
    "upload_expire": "telemed/boxes/tests/test_tasks_run_twice.py::test_an_idle_upload_expires_once_and_its_space_is_released_once",
    "staged_file_expire": "telemed/messaging/tests/test_studies.py::test_a_sender_dying_between_the_copy_and_the_message_leaves_nothing_behind",
    "send_care_invitation": "telemed/care/tests/test_tasks_run_twice.py::test_the_care_invitation_is_sent_once",
    "send_info_rejected": "telemed/consults/tests/test_tasks_run_twice.py::test_the_info_rejection_email_is_sent_once",
    "remind_doctor": "telemed/consults/tests/test_tasks_run_twice.py::test_the_deadline_reminder_is_sent_once",
    "deadline_passed": "telemed/consults/tests/test_tasks_run_twice.py::test_past_the_deadline_the_patient_is_told_once_and_the_consult_expires_once",
    "expire_if_untouched": "telemed/consults/tests/test_tasks_run_twice.py::test_past_the_deadline_the_patient_is_told_once_and_the_consult_expires_once",
    "cd_import_run": "telemed/dicom/tests/test_resume.py::test_the_task_passes_its_attempt",
    "cd_import_expire": "telemed/dicom/tests/test_tasks_run_twice.py::test_an_idle_import_is_cancelled_once_and_its_space_given_back_once",
    "directory_sweep": "telemed/directory/tests/test_tasks_run_twice.py::test_the_sweep_sweeps_once_and_schedules_the_next_once",
    "send_notification_emails": "telemed/notifications/tests/test_tasks_run_twice.py::test_a_notification_is_emailed_once",
    "export_build": "telemed/rights/tests/test_export.py::test_the_export_is_built_and_announced_once_when_the_task_runs_twice",
    "send_erasure_confirmation": "telemed/rights/tests/test_erasure.py::test_the_erasure_tasks_run_twice_mail_once_and_erase_once",
    "send_doctor_leaving_notice": "telemed/rights/tests/test_erasure.py::test_the_erasure_tasks_run_twice_mail_once_and_erase_once",
    "account_erase": "telemed/rights/tests/test_erasure.py::test_the_erasure_tasks_run_twice_mail_once_and_erase_once",
    "retention_sweep": "telemed/rights/tests/test_retention.py::test_the_sweep_run_twice_keeps_one_chain",
    "send_notification_push": "telemed/notifications/tests/test_tasks_run_twice.py::test_a_notification_is_pushed_once",
    "deliver_signed_report": "telemed/reports/tests/test_tasks_run_twice.py::test_the_signed_report_is_delivered_once",
    "send_reminder_details": "telemed/reminders/tests/test_tasks_run_twice.py::test_the_detailed_email_is_sent_once",
    "send_booking_confirmation": "telemed/visits/tests/test_tasks_run_twice.py::test_the_confirmation_and_the_reminder_reach_each_person_once",
    "send_visit_reminder": "telemed/visits/tests/test_tasks_run_twice.py::test_the_confirmation_and_the_reminder_reach_each_person_once",
}


def _all_tasks() -> set[str]:
    names = set()
    for path in sorted((ROOT / "telemed").glob("*/tasks.py")):
        module = importlib.import_module(f"telemed.{path.parent.name}.tasks")
        names |= {name for name, value in vars(module).items() if isinstance(value, Task)}
    return names


def test_every_task_has_its_proof():
    assert _all_tasks() == set(PROVEN)
    for task, where in PROVEN.items():
        path, test = where.split("::")
        assert re.search(rf"^def {test}\(", (ROOT / path).read_text(), re.M), (task, where)
