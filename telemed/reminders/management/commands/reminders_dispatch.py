"""Deliver reminders as they fall due. Run as many as you like, on as many hosts as you like: one
works, the others stand by to take over, through a lock in the database (see
telemed/reminders/dispatch.py)."""

import signal

from django.core.management.base import BaseCommand

from telemed.reminders import dispatch


class Command(BaseCommand):
    help = "Deliver due reminders: record each occurrence once, then notify the patient."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true",
            help="stop when nothing is due (instead of waiting); works beside an active dispatcher",
        )  # fmt: skip
        parser.add_argument("--max-sleep", type=float, default=1.0, help="longest wait between two looks, in seconds")
        parser.add_argument("--record-batch", type=int, default=dispatch.RECORD_BATCH)
        parser.add_argument("--send-batch", type=int, default=dispatch.SEND_BATCH)

    def handle(self, *args, once, max_sleep, record_batch, send_batch, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True  # finish the batch at hand, then leave

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        handled = dispatch.run(
            should_stop=lambda: stopping, max_sleep=max(0.01, max_sleep), once=once,
            record_batch=max(1, record_batch), send_batch=max(1, send_batch),
        )  # fmt: skip
        if once:
            self.stdout.write(f"{handled} reminders sent")
