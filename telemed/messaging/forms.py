import secrets

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.messaging.models import MAX_MESSAGE_LENGTH


class MessageForm(forms.Form):
    text = forms.CharField(
        label=_("Message"),
        max_length=MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write something before sending.")},
    )
    documents = forms.TypedMultipleChoiceField(
        label=_("Attach documents from your box"), required=False, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    # Intramed only: radiology studies of the doctor's Medbox.
    studies = forms.TypedMultipleChoiceField(
        label=_("Attach radiology studies from your Medbox"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    deidentified = forms.BooleanField(
        label=_("Send de-identified copies instead"),
        help_text=_(
            "The studies are then not shared: each colleague gets a ZIP without the patient's name, identifiers or "
            "institutions, which they can import into their own Medbox."
        ),
        required=False,
    )

    def __init__(self, *args, attachable=(), studies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["documents"].choices = [(d.pk, d.name) for d in attachable]
        self.fields["studies"].choices = [(s.pk, str(s)) for s in studies]
        if not studies:
            del self.fields["studies"], self.fields["deidentified"]

    def cleaned_studies(self) -> tuple[list[int], bool]:
        return self.cleaned_data.get("studies", []), self.cleaned_data.get("deidentified", False)


class ReplyForm(MessageForm):
    """A message in an open conversation. Each drawing of the form carries a new key, so that
    posting it twice (a double click, a reload that posts again) stores one message."""

    # Checked by the service, whose refusal is shown above the form (the field is hidden).
    key = forms.CharField(required=False, widget=forms.HiddenInput, initial=secrets.token_hex)


class PatientConversationForm(MessageForm):
    patient = forms.ModelChoiceField(label=_("Patient"), queryset=None, empty_label="—")
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    allow_replies = forms.BooleanField(label=_("Let the patient reply in this conversation"), required=False)

    field_order = ["patient", "subject", "text", "documents", "allow_replies"]

    def __init__(self, *args, patients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients
        self.fields["patient"].label_from_instance = lambda user: f"{user.get_full_name()} ({user.email})"


class IntramedForm(MessageForm):
    doctors = forms.ModelMultipleChoiceField(label=_("Colleagues"), queryset=None, widget=forms.CheckboxSelectMultiple)
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)

    field_order = ["doctors", "subject", "text", "documents", "studies", "deidentified"]

    def __init__(self, *args, doctors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["doctors"].queryset = doctors
        self.fields["doctors"].label_from_instance = lambda user: user.display_name
