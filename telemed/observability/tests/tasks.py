"""A task for the tests: it logs one line, which must carry the id of the request that enqueued it."""

import logging

from django_tasks import task

logger = logging.getLogger("telemed.observability.tests.tasks")


@task()
def log_a_line(text: str) -> None:
    logger.info("task says %s", text)
