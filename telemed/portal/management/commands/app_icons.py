"""Draw the app's icons (see telemed.portal.installable) into the static folder, to be committed."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from telemed.portal import installable


class Command(BaseCommand):
    help = "Draw the installable app's PNG icons into telemed/static/telemed/icons/."

    def handle(self, *args, **options):
        folder = Path(settings.BASE_DIR) / "telemed" / "static" / installable.ICON_DIR
        folder.mkdir(parents=True, exist_ok=True)
        for name, size, purpose in (*installable.ICONS, installable.APPLE_TOUCH_ICON):
            installable.icon(size, purpose).save(folder / name, optimize=True)
            self.stdout.write(f"{installable.ICON_DIR}/{name}")
