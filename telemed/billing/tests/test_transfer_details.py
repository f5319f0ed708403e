"""RF creditor references and the EPC QR code, decoded back from the image field by field."""

import base64
import io
from decimal import Decimal as D

import pytest
import zxingcpp
from PIL import Image
from stdnum import iso11649

from telemed.billing import transfer


@pytest.mark.parametrize("number", [1, 42, 9_999_999_999])
def test_references_are_valid_iso11649_and_unique(number):
    reference = transfer.creditor_reference(number)
    assert iso11649.is_valid(reference) and reference.startswith("RF") and reference.endswith(f"{number:010d}")
    assert reference != transfer.creditor_reference(number + 1)


def test_references_are_found_in_free_text():
    reference = transfer.creditor_reference(77)
    assert (
        transfer.references_in(f"saldo fattura {transfer.format_reference(reference).lower()} grazie")[0] == reference
    )
    assert transfer.references_in("RF99 nothing valid here") == []


def test_a_grouped_reference_followed_by_a_word_is_found_for_every_request_number():
    # The grouped reference runs on into "grazie"; some longer runs pass the check digits by chance.
    missed = [
        number
        for number in range(1, 2001)
        if transfer.references_in(
            f"Pagamento {transfer.format_reference(transfer.creditor_reference(number)).lower()} grazie"
        )[:1]
        != [transfer.creditor_reference(number)]
    ]
    assert missed == []


def decode(data_uri: str) -> str:
    assert data_uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1 and results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def test_the_epc_qr_code_decodes_to_the_transfer_field_by_field(settings):
    account = transfer.platform_account()
    reference = transfer.creditor_reference(1234)
    payload = decode(transfer.epc_qr_data_uri(account=account, amount=D("85.00"), reference=reference))
    fields = payload.split("\n")
    # EPC069-12: service tag, version, character set, identification, BIC, name, IBAN, amount,
    # purpose, structured reference (the unstructured text stays empty: the reference is there).
    assert fields[0] == "BCD"
    assert fields[1] == "002"
    assert fields[2] == "2"  # ISO 8859-1
    assert fields[3] == "SCT"
    assert fields[4] == settings.BILLING_BIC
    assert fields[5] == settings.BILLING_BENEFICIARY
    assert fields[6] == settings.BILLING_IBAN
    assert fields[7] == "EUR85"
    assert fields[8] == ""
    assert fields[9] == reference
    assert len(fields) == 10


def test_odd_cents_survive_the_qr_code():
    account = transfer.platform_account()
    payload = decode(
        transfer.epc_qr_data_uri(account=account, amount=D("48.66"), reference=transfer.creditor_reference(5))
    )
    assert payload.split("\n")[7] == "EUR48.66"


def test_a_bad_platform_iban_is_reported(settings):
    from telemed.billing.checks import platform_account_check

    settings.BILLING_IBAN = "IT04T0306909606000000100001"
    assert [error.id for error in platform_account_check(None)] == ["billing.E001"]
    with pytest.raises(transfer.AccountMisconfigured):
        transfer.platform_account()
    settings.BILLING_IBAN = "IT04T0306909606000000100000"
    assert platform_account_check(None) == []
