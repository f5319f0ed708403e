"""Forms of visits: they only parse; the services decide."""

import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.visits.models import SLOT_MINUTES, ExamStatement, Weekday
from telemed.visits.services import PROPOSAL_ACTIONS

ROME = ZoneInfo("Europe/Rome")


def rome_datetime(day: datetime.date, time: datetime.time) -> datetime.datetime:
    """A date and time typed in Italy, as an aware moment."""
    return datetime.datetime.combine(day, time, tzinfo=ROME)


class AgendaForm(forms.Form):
    slot_minutes = forms.TypedChoiceField(
        label=_("Slot length (minutes)"), choices=[(m, m) for m in SLOT_MINUTES], coerce=int
    )
    horizon_days = forms.IntegerField(label=_("Patients may book up to (days ahead)"), min_value=1, max_value=365)
    min_notice_hours = forms.IntegerField(label=_("Minimum notice (hours)"), min_value=0, max_value=720)
    cancel_notice_hours = forms.IntegerField(
        label=_("Patients may cancel up to (hours before)"), min_value=0, max_value=720
    )
    reschedule_notice_hours = forms.IntegerField(
        label=_("Patients may move a visit up to (hours before)"), min_value=0, max_value=720
    )


class RuleForm(forms.Form):
    weekday = forms.TypedChoiceField(label=_("Day"), choices=Weekday.choices, coerce=int)
    start = forms.TimeField(label=_("From"), widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(label=_("To"), widget=forms.TimeInput(attrs={"type": "time"}))


class ExceptionForm(forms.Form):
    first_day = forms.DateField(label=_("First day"), widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(label=_("Last day"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason (only you see it)"), max_length=120, required=False)


class BookForm(forms.Form):
    slot = forms.CharField(max_length=20)
    accepted_total = forms.DecimalField(max_digits=10, decimal_places=2, widget=forms.HiddenInput)


class ProposalForm(forms.Form):
    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}))
    message = forms.CharField(
        label=_("Message for the doctor"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    accepted_total = forms.DecimalField(max_digits=10, decimal_places=2, widget=forms.HiddenInput)

    def start(self) -> datetime.datetime:
        return rome_datetime(self.cleaned_data["day"], self.cleaned_data["time"])


class ReplyForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in PROPOSAL_ACTIONS], widget=forms.HiddenInput)
    day = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(label=_("Time"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    message = forms.CharField(
        label=_("Message"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == "propose" and not (data.get("day") and data.get("time")):
            raise forms.ValidationError(_("Choose the date and time you propose."))
        return data

    def start(self) -> datetime.datetime | None:
        if self.cleaned_data.get("day") and self.cleaned_data.get("time"):
            return rome_datetime(self.cleaned_data["day"], self.cleaned_data["time"])
        return None


class RescheduleForm(forms.Form):
    slot = forms.CharField(max_length=20)


class VisitReportForm(forms.Form):
    diagnosis = forms.CharField(
        label=_("Diagnosis"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    findings = forms.CharField(
        label=_("Findings"), required=False, max_length=8000, widget=forms.Textarea(attrs={"rows": 6})
    )
    statement = forms.ChoiceField(
        label=_("Remote examination"), required=False, choices=ExamStatement.choices, widget=forms.RadioSelect
    )


class SignForm(forms.Form):
    code = forms.CharField(label=_("Code from the signing app"), max_length=10)
