"""Print a new VAPID key pair in the form the environment takes (see README: TELEMED_VAPID_*)."""

from django.core.management.base import BaseCommand

from telemed.notifications import webpush


class Command(BaseCommand):
    help = "Print a new VAPID key pair for web push, as TELEMED_VAPID_PUBLIC_KEY / TELEMED_VAPID_PRIVATE_KEY lines."

    def handle(self, *args, **options):
        public, private = webpush.new_key_pair()
        self.stdout.write(f"TELEMED_VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"TELEMED_VAPID_PRIVATE_KEY={private}")
