"""The entries follow the live data: the sweep, the reindex command, the demo loader."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus

from telemed.accounts.models import Certification, Structure
from telemed.billing import tariffs
from telemed.billing.models import PlatformFee
from telemed.directory import services, tasks
from telemed.directory.models import DirectoryEntry, DirectorySweep, DirectoryWord
from telemed.directory.selectors import DoctorSearch, doctor_search


def names(search: DoctorSearch) -> list[str]:
    return [result.entry.display_name for result in doctor_search(search).results]


def sweep_once() -> int:
    """Run the scheduled sweep now, as the worker would when its time comes."""
    state = DirectorySweep.objects.get(pk=1)
    return services.directory_sweep_run(token=state.token)


@pytest.fixture
def swept(db):
    """A sweep chain started and run once: the state every later sweep starts from."""
    services.directory_sweep_schedule(force=True)
    sweep_once()


def test_a_doctor_who_just_registered_shows_after_the_next_sweep(swept, make_doctor):
    user = make_doctor(first_name="Elisa", last_name="Martini")
    assert names(DoctorSearch(text="martini")) == []  # not indexed yet: the sweep runs every minute
    assert sweep_once() >= 1
    assert names(DoctorSearch(text="martini")) == ["Elisa Martini"]
    entry = DirectoryEntry.objects.get(doctor=user.doctor_profile)
    assert entry.verified is False and entry.price_from is None


def test_tariffs_verifications_and_profile_changes_reach_the_entry(swept, doctor_factory, django_user_model):
    doctor = doctor_factory("Marco", "Bianchi", index=False)
    sweep_once()
    tariffs.tariff_set(
        actor=doctor.user,
        doctor=doctor,
        kind="priority",
        fee=Decimal("85.00"),
        response_value=24,
        response_unit="hours",
    )
    staff = django_user_model.objects.create_superuser(
        "staff@example.test", "x-long-pass-2026", first_name="S", last_name="T"
    )
    from telemed.accounts import services as account_services

    for certification in Certification.objects.filter(doctor=doctor):
        account_services.certification_review(actor=staff, certification=certification, approve=True)
    doctor.available_for_second_opinion = False
    doctor.save()
    sweep_once()
    entry = DirectoryEntry.objects.get(doctor=doctor)
    assert entry.price_priority == Decimal("92.00")  # 85 + platform fee 5 + stamp duty 2
    assert entry.verified is True and entry.second_opinion is False
    assert names(DoctorSearch(service="priority")) == ["Marco Bianchi"]


def test_changes_that_leave_no_timestamp_are_caught_by_comparing_with_the_live_data(swept, doctor_factory):
    doctor = doctor_factory("Marco", "Bianchi")
    sweep_once()
    structure = Structure.objects.create(
        name="Poliambulatorio Test",
        slug="poli-test",
        partita_iva="12345670017",
        address="Via Dante 1",
        city="Milano",
        province="MI",
    )
    # As accounts' services do it: update() and save(update_fields=…) do not move updated_at.
    type(doctor).objects.filter(pk=doctor.pk).update(structure=structure)
    doctor.user.last_name = "Bianchini"
    doctor.user.save(update_fields=["last_name"])
    sweep_once()
    entry = DirectoryEntry.objects.get(doctor=doctor)
    assert (entry.display_name, entry.structure_name) == ("Marco Bianchini", "Poliambulatorio Test")
    Structure.objects.filter(pk=structure.pk).update(name="Poliambulatorio Nuovo")
    sweep_once()
    assert DirectoryEntry.objects.get(doctor=doctor).structure_name == "Poliambulatorio Nuovo"
    type(doctor).objects.filter(pk=doctor.pk).update(title="dottssa")  # as the profile page saves it
    sweep_once()
    assert DirectoryEntry.objects.get(doctor=doctor).title == "dottssa"


def test_a_deactivated_doctor_loses_the_entry(swept, doctor_factory):
    doctor = doctor_factory("Marco", "Bianchi")
    doctor.user.is_active = False
    doctor.user.save(update_fields=["is_active"])
    sweep_once()
    assert not DirectoryEntry.objects.filter(doctor=doctor).exists()


def test_a_new_platform_fee_reprices_every_entry(swept, doctor_factory, django_user_model):
    doctor = doctor_factory("Marco", "Bianchi", fees={"info": "0", "base": "40.00"})
    sweep_once()
    assert DirectoryEntry.objects.get(doctor=doctor).price_base == Decimal("43.00")
    staff = django_user_model.objects.create_superuser(
        "staff@example.test", "x-long-pass-2026", first_name="S", last_name="T"
    )
    tariffs.platform_fee_set(actor=staff, kind="base", fee=Decimal("6.00"))
    sweep_once()
    assert DirectoryEntry.objects.get(doctor=doctor).price_base == Decimal("46.00")
    assert PlatformFee.objects.filter(kind="base", valid_to__isnull=True).get().fee == Decimal("6.00")


def test_the_oldest_entries_are_rebuilt_by_every_sweep(swept, doctor_factory):
    doctor = doctor_factory("Marco", "Bianchi")
    sweep_once()
    long_ago = timezone.now() - datetime.timedelta(days=30)
    DirectoryEntry.objects.filter(doctor=doctor).update(refreshed_at=long_ago)
    # A change of specialties through the M2M only (no save of the profile, no timestamp).
    doctor.specialties.set(doctor.specialties.model.objects.filter(code="neurologia"))
    sweep_once()
    entry = DirectoryEntry.objects.get(doctor=doctor)
    assert entry.specialty_codes == " neurologia " and entry.refreshed_at > long_ago


def test_the_sweep_reschedules_itself_and_one_chain_only_runs(db, doctor_factory):
    assert services.directory_sweep_schedule() is True
    assert services.directory_sweep_schedule() is False  # on time: nothing more
    state = DirectorySweep.objects.get(pk=1)
    first_token = state.token
    assert tasks.directory_sweep.get_result(state.task_id).status == TaskResultStatus.READY
    sweep_once()
    state.refresh_from_db()
    assert state.token != first_token and state.next_run_at > timezone.now()
    assert state.swept_until is not None
    # A superseded task (a second chain) ends without doing anything nor scheduling.
    assert services.directory_sweep_run(token=first_token) == 0
    assert DirectorySweep.objects.get(pk=1).token == state.token
    # A chain whose next sweep is long overdue (the worker was down, a task crashed) restarts.
    DirectorySweep.objects.filter(pk=1).update(next_run_at=timezone.now() - datetime.timedelta(hours=1), task_id="")
    assert services.directory_sweep_schedule() is True


def test_the_sweep_task_runs_on_the_worker(db, run_tasks, doctor_factory):
    doctor = doctor_factory("Marco", "Bianchi", index=False)
    services.directory_sweep_schedule()
    assert run_tasks() == 1  # the next sweep waits for its time
    assert DirectoryEntry.objects.filter(doctor=doctor).exists()


def test_the_search_page_starts_the_sweep_when_none_is_scheduled(client, db, monkeypatch):
    from django.core.cache import cache

    from telemed.directory import views

    cache.delete("directory:sweep-checked")
    monkeypatch.setattr(views, "_next_check_at", 0.0)  # as in a process that has not looked yet
    client.get("/medici/")
    assert DirectorySweep.objects.get(pk=1).next_run_at is not None


def test_reindex_command_all_or_since(db, doctor_factory, capsys):
    old = doctor_factory("Marco", "Bianchi", index=False)
    DirectoryEntry.objects.all().delete()
    call_command("directory_reindex", "--since", "1h", "--no-schedule")
    assert DirectoryEntry.objects.filter(doctor=old).exists()
    DirectoryEntry.objects.all().delete()
    call_command("directory_reindex")
    assert "1 entry rebuilt (all doctors)" in capsys.readouterr().out
    assert DirectoryEntry.objects.count() == 1 and DirectoryWord.objects.filter(word="bianchi", in_names=True).exists()
    assert DirectorySweep.objects.get(pk=1).token
    with pytest.raises(CommandError):
        call_command("directory_reindex", "--since", "last tuesday")
    call_command("directory_reindex", "--since", "2026-01-01T08:00")


def test_the_demo_loader_builds_the_entries_and_a_second_run_changes_nothing(db):
    call_command("load_demo", verbosity=0)
    first = dict(DirectoryEntry.objects.values_list("doctor__user__email", "price_from"))
    call_command("load_demo", verbosity=0)
    assert dict(DirectoryEntry.objects.values_list("doctor__user__email", "price_from")) == first
    assert len(first) == 10
    assert names(DoctorSearch(text="bianchi")) == ["Marco Bianchi"]
    assert DirectorySweep.objects.get(pk=1).task_id


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.postgres
def test_postgresql_gets_the_vectors_and_the_extensions(db, doctor_factory):
    doctor = doctor_factory("Niccolò", "D'Angelo", specialties=("dermatologia",), languages=("it", "en"))
    vector, facets = DirectoryEntry.objects.filter(doctor=doctor).values_list("search_vector", "facets").get()
    assert "'niccolo':1A" in vector and "'dermatolog'" in vector
    assert {"'s.dermatologia'", "'l.en'", "'k.info'", "'k.base'"} <= set(facets.split())
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname IN ('pg_trgm', 'unaccent') ORDER BY 1")
        assert [row[0] for row in cursor.fetchall()] == ["pg_trgm", "unaccent"]
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'directory_%%gin' OR indexname LIKE 'directory_%%trgm'"
        )
        assert {row[0] for row in cursor.fetchall()} >= {
            "directory_entry_vector_gin",
            "directory_entry_facets_gin",
            "directory_word_trgm",
        }
