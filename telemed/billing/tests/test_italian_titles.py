"""The notifications billing sends read as Italians write: "48,00 €", never "48.00 EUR"."""

from decimal import Decimal as D

from django.core import mail
from django.utils import translation

from telemed.billing.models import PaymentRequest
from telemed.billing.tests.test_flow import import_statement
from telemed.notifications.models import Notification

NBSP = "\u00a0"


def test_payment_notifications_show_amounts_and_the_doctor_in_italian(
    doctor, make_patient_user, billed, staff, run_tasks
):
    patient = make_patient_user(language="it")
    request = billed(doctor, patient, fee="1229.50")  # + 3,00 platform fee + 2,00 stamp duty
    assert request.amount == D("1234.50")
    run_tasks()
    import_statement(staff, [{"amount": "1234.50", "reference": request.reference, "bank_ref": "B1"}])
    run_tasks()
    titles = list(Notification.objects.filter(recipient=patient).order_by("pk").values_list("title", flat=True))
    assert titles[0].startswith(f"Richiesta di pagamento: 1.234,50{NBSP}€ — ")
    assert titles[1].startswith(f"Pagamento ricevuto: 1.234,50{NBSP}€ — ")
    with translation.override("it"):
        assert doctor.display_name.startswith("Dott. ")
        assert any(title.startswith("Fattura ") and title.endswith(f"— {doctor.display_name}") for title in titles), (
            titles
        )
    for title in titles:
        assert "EUR" not in title and "1234.50" not in title and "Dr." not in title, title
    subjects = [message.subject for message in mail.outbox if patient.email in message.to]
    # A subject is one line: its spaces, the no-break one included, are folded into plain ones.
    assert any("1.234,50 €" in subject for subject in subjects), subjects
    assert PaymentRequest.objects.get(pk=request.pk).status == "paid"
