"""Schemathesis against the OpenAPI document, in-process through Django's WSGI application, as
a logged-in patient and as a logged-in doctor (each an app holding a token with every scope):
every operation with generated requests, a few examples each; each request with ids in its path
is sent again with the ids of the consult world the person belongs to, so that the answers with
data are checked too. No 5xx; status, content type, headers and body conform to the document."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from telemed.api.api import api
from telemed.api.tests.conftest import ALL_SCOPES, SCHEMATHESIS_CONFIG, object_ids

# A handful of examples per operation: the run stays under a minute on both databases.
EXAMPLES = 6
ROLES = ("patient", "doctor")


def keep_the_connection() -> None:
    """The WSGI handler closes the connection after each request, as in production; the test's
    transaction lives on it, so (as Django's test client does) it stays open here. A test client's
    request connects the closing again when it ends: after one, this is said again."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)


@pytest.fixture(autouse=True)
def in_process(db, settings):
    # The rate limit is tested on its own (test_rate_limit); here it would only turn answers into 429s.
    settings.API_RATE_LIMIT = settings.API_ANONYMOUS_RATE_LIMIT = "1000000/min"
    keep_the_connection()
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_document_served_is_the_one_tested():
    served = Client().get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json() == DOCUMENT
    assert DOCUMENT["openapi"] == "3.1.0"


# The document as the code builds it (the test above checks that it is the one served), sent to
# Django's WSGI application in-process.
DOCUMENT = json.loads(json.dumps(api.get_openapi_schema()))
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_path(SCHEMATHESIS_CONFIG))
schema.app = WSGIHandler()


@pytest.fixture
def logged_in(consult_world, token_for):
    """For each of the consult's people: the headers of their app, and the ids of what they can read."""
    world = consult_world
    keep_the_connection()  # the world imported its study through the import page's test client
    ids = object_ids(world)
    return {role: ({"Authorization": f"Bearer {token_for(world[role], ALL_SCOPES)}"}, ids) for role in ROLES}


def call_and_validate(case, headers: dict, ids: dict) -> None:
    case.call_and_validate(headers=headers)
    if case.path_parameters:
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
        case.call_and_validate(headers=headers)


HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@schema.parametrize()
@HYPOTHESIS
def test_the_api_keeps_to_its_openapi_document_for_a_patient(case, logged_in):
    call_and_validate(case, *logged_in["patient"])


@schema.parametrize()
@HYPOTHESIS
def test_the_api_keeps_to_its_openapi_document_for_a_doctor(case, logged_in):
    call_and_validate(case, *logged_in["doctor"])
