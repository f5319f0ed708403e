import datetime

import pytest

from telemed.lib import identifiers

VALID_CF = "RSSMRA85T10A562S"  # Mario Rossi, born 10 Dec 1985, male


def test_valid_codice_fiscale_is_normalised():
    assert identifiers.clean_codice_fiscale(" rssmra85t10a562s ") == VALID_CF


@pytest.mark.parametrize("value", ["RSSMRA85T10A562X", "RSSMRA85T10A562", "", "12345678901", "<script>", "X" * 200])
def test_invalid_codice_fiscale_is_refused(value):
    with pytest.raises(identifiers.InvalidIdentifier) as info:
        identifiers.clean_codice_fiscale(value)
    assert info.value.code == "codice_fiscale_invalid"


def test_codice_fiscale_must_match_birth_date_and_sex():
    identifiers.check_codice_fiscale_matches(VALID_CF, birth_date=datetime.date(1985, 12, 10), sex="M")
    with pytest.raises(identifiers.InvalidIdentifier) as info:
        identifiers.check_codice_fiscale_matches(VALID_CF, birth_date=datetime.date(1985, 12, 11), sex="M")
    assert info.value.code == "codice_fiscale_birth_date_mismatch"
    with pytest.raises(identifiers.InvalidIdentifier) as info:
        identifiers.check_codice_fiscale_matches(VALID_CF, birth_date=datetime.date(1985, 12, 10), sex="F")
    assert info.value.code == "codice_fiscale_sex_mismatch"


def test_partita_iva_checksum():
    assert identifiers.clean_partita_iva("12345670017") == "12345670017"
    with pytest.raises(identifiers.InvalidIdentifier):
        identifiers.clean_partita_iva("12345670018")


def test_iban_checksum():
    assert identifiers.clean_iban("it60 x054 2811 1010 0000 0123 456") == "IT60X0542811101000000123456"
    with pytest.raises(identifiers.InvalidIdentifier):
        identifiers.clean_iban("IT61X0542811101000000123456")
    with pytest.raises(identifiers.InvalidIdentifier):
        identifiers.clean_iban("not an iban")
