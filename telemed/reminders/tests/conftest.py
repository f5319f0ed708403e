"""Fixtures of the reminders' tests: a patient linked to a doctor, and a recurrence builder."""

import datetime

import pytest

from telemed.care import services as care


@pytest.fixture
def patient(make_patient):
    return make_patient(email="anna@example.test", first_name="Anna", last_name="Conti", language="en")


@pytest.fixture
def doctor(make_doctor):
    return make_doctor(email="doc@example.test", first_name="Marco", last_name="Bianchi")


@pytest.fixture
def linked(patient, doctor):
    care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor))
    return doctor, patient


def at(text: str) -> datetime.datetime:
    """An instant written in UTC, e.g. at("2026-03-29T01:30")."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)
