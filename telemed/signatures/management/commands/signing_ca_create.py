"""Create the platform certification authority that issues the doctors' signing certificates."""

from django.core.management.base import BaseCommand

from telemed.signatures.models import CertificateAuthority
from telemed.signatures.services import certificate_authority_create


class Command(BaseCommand):
    help = "Create the platform certification authority (once; --rotate makes a new one that issues from now on)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="telemed Certification Authority")
        parser.add_argument(
            "--rotate", action="store_true", help="create a new CA even if one exists (the old one keeps verifying)"
        )

    def handle(self, *args, name: str, rotate: bool, **options):
        existing = CertificateAuthority.objects.order_by("-created_at").first()
        if existing is not None and not rotate:
            self.stdout.write(
                f"A certification authority already exists: {existing.name} (valid until {existing.not_after:%Y-%m-%d})."
            )
            return
        authority = certificate_authority_create(name=name)
        self.stdout.write(self.style.SUCCESS(f"Created {authority.name}, valid until {authority.not_after:%Y-%m-%d}."))
