"""Forms of the box pages: they only parse; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.boxes.models import Category
from telemed.boxes.services import FOLDER_NAME_MAX, NAME_MAX

CATEGORY_CHOICES = [("", _("All categories")), *Category.choices]


class FolderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, folder):
        return folder.name


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Name contains"), required=False, max_length=200)
    category = forms.ChoiceField(label=_("Category"), required=False, choices=CATEGORY_CHOICES)
    folder = FolderChoiceField(label=_("Folder"), required=False, queryset=None, empty_label=_("All folders"))
    date_from = forms.DateField(label=_("Added from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Added until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, folders, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].queryset = folders

    def filters(self) -> dict:
        """The valid filters only: a nonsense value is ignored (and shown as an error), never a 500."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else getattr(self, "cleaned_data", {})
        return {
            "query": data.get("q") or None,
            "category": data.get("category") or None,
            "folder": data.get("folder"),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
        }


class UploadForm(forms.Form):
    """The upload without JavaScript (one request); with JavaScript the same fields drive the resumable upload."""

    file = forms.FileField(label=_("File"))
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices, initial=Category.OTHER)
    folder = FolderChoiceField(label=_("Folder"), required=False, queryset=None, empty_label=_("No folder"))

    def __init__(self, *args, folders, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].queryset = folders


class UploadStartForm(forms.Form):
    """The declaration that starts a resumable upload (POST /box/uploads/)."""

    name = forms.CharField(max_length=NAME_MAX * 4, strip=False)  # the service gives the precise message
    size = forms.IntegerField(min_value=0)
    category = forms.ChoiceField(choices=Category.choices, required=False)
    folder = forms.IntegerField(required=False, min_value=1)


class RenameForm(forms.Form):
    name = forms.CharField(label=_("New name"), max_length=NAME_MAX)


class FolderForm(forms.Form):
    name = forms.CharField(label=_("Folder name"), max_length=FOLDER_NAME_MAX)
    patient = forms.ModelChoiceField(label=_("Patient account (optional)"), required=False, queryset=None)

    def __init__(self, *args, patients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients


class MoveForm(forms.Form):
    folder = FolderChoiceField(label=_("Folder"), required=False, queryset=None, empty_label=_("No folder"))
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)

    def __init__(self, *args, folders, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the user's own folders: another box's folder id does not validate.
        self.fields["folder"].queryset = folders


class ShareForm(forms.Form):
    doctor = forms.ModelChoiceField(label=_("Doctor"), queryset=None, empty_label=_("Choose a doctor"))

    def __init__(self, *args, doctors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["doctor"].queryset = doctors
        self.fields["doctor"].label_from_instance = lambda user: f"{user.last_name} {user.first_name}"
