"""The reminder form: it only parses. What makes a recurrence acceptable is decided by
Recurrence.validate and the services, whose messages come back onto the fields."""

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from telemed.reminders.models import ReminderKind
from telemed.reminders.recurrence import MAX_TIMES_PER_DAY, EndMode, Frequency, MonthlyMode, Recurrence
from telemed.reminders.services import EmailChoice, ReminderText

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]
# Parsing stops well before anything a person would type; the rule's own limit is lower.
MAX_TIME_FIELDS = 100


class TimesWidget(forms.Widget):
    """Several <input type="time" name="times">: one per time of the day, plus empty ones to fill."""

    template_name = "reminders/widgets/times.html"
    empty_slots = 3

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])

    def format_value(self, value):
        values = []
        for item in value or []:
            values.append(item.strftime("%H:%M") if isinstance(item, datetime.time) else str(item))
        return values

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        values = context["widget"]["value"] or []
        blanks = max(1, self.empty_slots - len(values))
        context["widget"]["slots"] = [*values, *[""] * blanks]
        return context


class TimesField(forms.Field):
    widget = TimesWidget
    default_error_messages = {
        "invalid": _("“%(value)s” is not a time of the day: write it like 08:00."),
        "too_many": _("At most %(max)d times a day."),
        "required": _("Give at least one time of the day."),
    }

    def to_python(self, value) -> tuple[datetime.time, ...]:
        if isinstance(value, str):
            value = [value]
        values = [str(v).strip() for v in value or [] if v and str(v).strip()]
        if len(values) > MAX_TIME_FIELDS:
            raise ValidationError(self.error_messages["too_many"], code="too_many", params={"max": MAX_TIMES_PER_DAY})
        times = []
        for text in values:
            try:
                times.append(datetime.datetime.strptime(text[:5], "%H:%M").time())  # noqa: DTZ007 - a time of day
            except ValueError:
                raise ValidationError(
                    self.error_messages["invalid"], code="invalid", params={"value": text[:20]}
                ) from None
        return tuple(times)


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ReminderForm(forms.Form):
    patient = forms.ModelChoiceField(
        label=_("Patient"), queryset=None, required=False, empty_label=_("Choose a patient")
    )
    kind = forms.ChoiceField(label=_("What is it for?"), choices=ReminderKind.choices, initial=ReminderKind.THERAPY)
    title = forms.CharField(
        label=_("Title"), max_length=120, help_text=_("E.g. “Cardioaspirin 100 mg” or “Blood test”.")
    )
    notes = forms.CharField(
        label=_("Notes (optional)"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )
    start_date = forms.DateField(label=_("Starting on"), input_formats=DATE_FORMATS, widget=_date_input())
    times = TimesField(label=_("At what time"), help_text=_("One or several times of the day, at most 12."))
    frequency = forms.ChoiceField(
        label=_("How often"), choices=Frequency.choices, initial=Frequency.DAILY, widget=forms.RadioSelect
    )
    interval = forms.IntegerField(
        label=_("Repeat every"), min_value=1, max_value=365, initial=1,
        help_text=_("1 = every day, week or month; 2 = every other one; and so on."),
    )  # fmt: skip
    weekdays = forms.TypedMultipleChoiceField(
        label=_("On these days"),
        choices=list(WEEKDAYS.items()),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    monthly_mode = forms.ChoiceField(
        label=_("Which day of the month"),
        choices=MonthlyMode.choices,
        initial=MonthlyMode.DAY_OF_MONTH,
        widget=forms.RadioSelect,
        help_text=_("The date and the weekday are those of the start date. Some months have no 29th, 30th or 31st."),
    )
    end = forms.ChoiceField(label=_("Ends"), choices=EndMode.choices, initial=EndMode.NEVER, widget=forms.RadioSelect)
    until = forms.DateField(label=_("Last day"), required=False, input_formats=DATE_FORMATS, widget=_date_input())
    count = forms.IntegerField(
        label=_("Number of times"), required=False, min_value=1, max_value=1000,
        help_text=_("With several times a day: the number of days."),
    )  # fmt: skip

    def __init__(self, *args, patients=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patients is None:
            del self.fields["patient"]
        else:
            self.fields["patient"].queryset = patients
            self.fields["patient"].required = True

    def clean(self):
        data = super().clean()
        end = data.get("end")
        if end == EndMode.UNTIL and not data.get("until") and "until" not in self.errors:
            self.add_error("until", _("Give the last day."))
        if end == EndMode.COUNT and not data.get("count") and "count" not in self.errors:
            self.add_error("count", _("Give the number of times."))
        return data

    def recurrence(self) -> Recurrence:
        data = self.cleaned_data
        end = data["end"]
        return Recurrence(
            start=data["start_date"],
            times=data["times"],
            frequency=data["frequency"],
            interval=data.get("interval") or 1,
            weekdays=tuple(data.get("weekdays") or ()),
            monthly_mode=data.get("monthly_mode") or MonthlyMode.DAY_OF_MONTH,
            until=data.get("until") if end == EndMode.UNTIL else None,
            count=data.get("count") if end == EndMode.COUNT else None,
        )

    def text(self) -> ReminderText:
        return ReminderText(
            kind=self.cleaned_data["kind"], title=self.cleaned_data["title"], notes=self.cleaned_data["notes"]
        )

    def add_service_error(self, error: ValidationError) -> None:
        """Put a service's messages next to the fields they are about."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)

    @staticmethod
    def initial_from(recurrence: Recurrence, **extra) -> dict:
        end = EndMode.UNTIL if recurrence.until else EndMode.COUNT if recurrence.count else EndMode.NEVER
        return {
            "start_date": recurrence.start,
            "times": list(recurrence.times),
            "frequency": recurrence.frequency,
            "interval": recurrence.interval,
            "weekdays": list(recurrence.weekdays),
            "monthly_mode": recurrence.monthly_mode,
            "end": end,
            "until": recurrence.until,
            "count": recurrence.count,
            **extra,
        }


class EmailChoiceForm(forms.Form):
    email = forms.ChoiceField(
        label=_("E-mails for reminders"),
        widget=forms.RadioSelect,
        choices=[
            (EmailChoice.NONE, _("No e-mail: the notification on telemed is enough")),
            (EmailChoice.SHORT, _("A short e-mail that only says a reminder is waiting (no health details)")),
            (EmailChoice.DETAILS, _("An e-mail with the reminder's title, time and notes")),
        ],
    )
