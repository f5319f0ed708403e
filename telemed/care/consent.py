"""The wording a patient agrees to when a doctor may reach them. Stored verbatim on each link,
in the language the patient read it, so that the record says exactly what was accepted."""

from django.utils.translation import gettext as _

CONSENT_VERSION = "2026-11"


def consent_text(doctor_name: str) -> str:
    return _(
        "I allow Dr. %(doctor)s to contact me on telemed: to send me messages, reports and documents, "
        "to set reminders for me, and to see the documents I choose to share. I can revoke this link "
        "at any time from my page; what was already delivered stays in my Welbox. (Consent version %(version)s)"
    ) % {"doctor": doctor_name, "version": CONSENT_VERSION}
