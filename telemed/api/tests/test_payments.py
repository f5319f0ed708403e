"""Payment requests through the API: the payer's list and one request with the bank transfer's
details as the payment page gives them."""

import pytest
from django.test import Client

from telemed.api.tests.conftest import bearer
from telemed.billing import transfer

pytestmark = pytest.mark.django_db


def test_the_payer_reads_what_to_pay_and_how(consult_world, token_for):
    patient, payment = consult_world["patient"], consult_world["payment"]
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))
    listed = app.get("/api/v1/payments?status=open", **headers).json()["items"]
    assert [(item["id"], item["amount"], item["status"]) for item in listed] == [(payment.pk, "9.90", "open")]
    assert app.get("/api/v1/payments?status=paid", **headers).json()["items"] == []

    detail = app.get(f"/api/v1/payments/{payment.pk}", **headers).json()
    account = transfer.platform_account()
    assert detail["transfer"]["iban"] == account.iban_formatted
    assert detail["transfer"]["reference"] == transfer.format_reference(payment.reference)
    assert detail["transfer"]["qr"].startswith("data:image/png;base64,")
    assert detail["outstanding"] == "9.90" and detail["cost"] is None
    # The page shows the same reference.
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(patient)
    assert detail["transfer"]["reference"] in page.get(f"/billing/payments/{payment.pk}/").content.decode()
