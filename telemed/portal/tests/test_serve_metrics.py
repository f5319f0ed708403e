"""`serve --workers 2`: the server's two processes sum their metrics, so a scrape answered by either
one counts every request."""

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import database_url_for_subprocesses, free_port, platform_process

TOKEN = "serve-metrics-test-token-0123456789"


def _healthz_count(base_url: str) -> float:
    request = urllib.request.Request(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "telemed_http_request_duration_seconds_count" and sample.labels.get("view") == "healthz"
    )


@pytest.mark.django_db(transaction=True)
def test_the_processes_of_serve_workers_are_counted_together(tmp_path):
    env = {
        "DATABASE_URL": database_url_for_subprocesses(), "TELEMED_VAR_DIR": str(tmp_path),
        "TELEMED_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": "",
    }  # fmt: skip
    with platform_process(port=free_port(), env=env, args=("--workers", "2", "--no-worker")) as base_url:
        assert (tmp_path / "metrics").is_dir()
        before = _healthz_count(base_url)
        for _ in range(12):
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as response:
                assert response.status == 200
        counts = {_healthz_count(base_url) for _ in range(6)}  # whichever process answers
    assert counts == {before + 12}
