"""Forms of the DICOM pages: they only parse; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.dicom.rendering import THUMBNAIL_SIZES


class FolderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, folder):
        return folder.name


class ImportStartForm(forms.Form):
    folder = FolderChoiceField(label=_("Folder"), required=False, queryset=None, empty_label=_("No folder"))

    def __init__(self, *args, folders, medbox: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].queryset = folders
        if medbox:
            # Required, but the service says so in words that explain why.
            self.fields["folder"].label = _("Patient folder")
            self.fields["folder"].empty_label = _("Choose the patient's folder")


class RenderForm(forms.Form):
    """The query of one rendered image: which frame, which window, which size (thumbnails)."""

    frame = forms.IntegerField(required=False, min_value=0, max_value=100_000)
    wc = forms.FloatField(required=False, min_value=-100_000, max_value=100_000)
    ww = forms.FloatField(required=False, min_value=1, max_value=200_000)
    size = forms.TypedChoiceField(required=False, coerce=int, choices=[(str(s), str(s)) for s in THUMBNAIL_SIZES])

    def clean(self):
        data = super().clean()
        if (data.get("wc") is None) != (data.get("ww") is None):
            raise forms.ValidationError(_("Give both the window centre and its width, or neither."))
        return data


class ShareForm(forms.Form):
    doctor = forms.ModelChoiceField(label=_("Doctor"), queryset=None, empty_label=_("Choose a doctor"))

    def __init__(self, *args, doctors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["doctor"].queryset = doctors
        self.fields["doctor"].label_from_instance = lambda user: f"{user.last_name} {user.first_name}"
