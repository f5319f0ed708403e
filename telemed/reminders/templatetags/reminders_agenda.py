"""{% load reminders_agenda %}{% upcoming_reminders user %}: the next occurrences of a patient's agenda, for other pages
(the patient's dashboard) to show without knowing how the agenda works."""

import datetime

from django import template
from django.utils import timezone

from telemed.reminders import selectors

register = template.Library()


@register.inclusion_tag("reminders/_upcoming.html")
def upcoming_reminders(user, limit: int = 3, hours: int = 36) -> dict:
    if not getattr(user, "is_patient", False):
        return {"occurrences": []}
    now = timezone.now()
    occurrences = selectors.agenda_occurrences(user, now, now + datetime.timedelta(hours=hours))
    return {"occurrences": occurrences[:limit]}
