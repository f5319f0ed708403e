"""Forms of accounts: they parse and check the shape of what users type; services decide the rest."""

import datetime

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from telemed.accounts import consents, selectors
from telemed.accounts.models import CertificationKind, ConsentKind, DoctorTitle, Language, Sex, Specialty, User
from telemed.accounts.services import Identity, Person, UploadedCertification
from telemed.lib import identifiers
from telemed.lib.italy import PROVINCE_CHOICES
from telemed.lib.text import account_email

IDENTIFIER_ERRORS = {
    "codice_fiscale_invalid": _("This codice fiscale is not valid: check the 16 characters."),
    "codice_fiscale_birth_date_mismatch": _("The codice fiscale does not match the birth date."),
    "codice_fiscale_sex_mismatch": _("The codice fiscale does not match the sex."),
    "partita_iva_invalid": _("This partita IVA is not valid: check the 11 digits."),
    "iban_invalid": _("This IBAN is not valid: check it against your bank statement."),
}


def _identifier(clean, value: str, *args, **kwargs) -> str:
    try:
        return clean(value, *args, **kwargs)
    except identifiers.InvalidIdentifier as exc:
        raise forms.ValidationError(IDENTIFIER_ERRORS[exc.code], code=exc.code) from exc


def _phone_field(required: bool = True) -> forms.CharField:
    return forms.RegexField(
        label=_("Phone"),
        regex=r"^\+?[0-9 ()./-]{6,24}$",
        required=required,
        error_messages={"invalid": _("Enter a phone number, e.g. +39 333 123 4567.")},
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        "invalid_login": _("The e-mail or the password is not right. Note that the password is case-sensitive."),
        "inactive": _("This account has been disabled."),
    }

    def clean_username(self) -> str:
        # The account, not the spelling: authentication and its lockout see one key.
        return account_email(self.cleaned_data["username"])


class PersonFields(forms.Form):
    """Name, e-mail and a password checked by Django's validators."""

    first_name = forms.CharField(
        label=_("First name"), max_length=80, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=80, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    email = forms.EmailField(label=_("E-mail"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters, not only digits, not too similar to your name or e-mail."),
    )
    password2 = forms.CharField(
        label=_("Repeat the password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    ask_email = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.ask_email:
            del self.fields["email"]

    def clean_email(self) -> str:
        email = account_email(self.cleaned_data["email"])
        if selectors.email_is_registered(email):
            raise forms.ValidationError(_("An account with this e-mail address already exists."), code="duplicate")
        return email

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords are different."))
        elif password1:
            probe = User(
                email=cleaned.get("email", ""),
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                password_validation.validate_password(password1, probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def person(self, email: str | None = None, language: str = "it") -> Person:
        data = self.cleaned_data
        return Person(
            email=email or data["email"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            language=language,
        )


class IdentityFields(forms.Form):
    """Codice fiscale, consistent with the declared birth date and sex."""

    codice_fiscale = forms.CharField(
        label=_("Codice fiscale"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    birth_date = forms.DateField(
        label=_("Birth date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    sex = forms.ChoiceField(label=_("Sex (as in the codice fiscale)"), choices=Sex.choices, widget=forms.RadioSelect)
    phone = _phone_field()

    def clean_codice_fiscale(self) -> str:
        return _identifier(identifiers.clean_codice_fiscale, self.cleaned_data["codice_fiscale"])

    def clean_birth_date(self) -> datetime.date:
        birth_date = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if birth_date > today or birth_date.year < today.year - 120:
            raise forms.ValidationError(_("Enter a real birth date."), code="out_of_range")
        return birth_date

    def clean(self):
        cleaned = super().clean()
        number, birth_date, sex = cleaned.get("codice_fiscale"), cleaned.get("birth_date"), cleaned.get("sex")
        if number and birth_date and sex:
            try:
                identifiers.check_codice_fiscale_matches(number, birth_date=birth_date, sex=sex)
            except identifiers.InvalidIdentifier as exc:
                self.add_error("codice_fiscale", IDENTIFIER_ERRORS[exc.code])
        return cleaned

    def identity(self) -> Identity:
        data = self.cleaned_data
        return Identity(
            codice_fiscale=data["codice_fiscale"],
            birth_date=data["birth_date"],
            sex=data["sex"],
            phone=data["phone"].strip(),
        )


def _notice_links() -> str:
    """Links to the notices in force, under the boxes that refer to them."""
    return format_html_join(
        " · ", '<a href="{}" target="_blank" rel="noopener">{}</a>',
        [(reverse_lazy("accounts:notice", args=["privacy"]), _("Privacy notice")),
         (reverse_lazy("accounts:notice", args=["terms"]), _("Terms of service"))],
    )  # fmt: skip


class TermsField(forms.Form):
    accept_terms = forms.BooleanField(
        label=_("I have read the privacy notice and accept the terms of service."),
        error_messages={"required": _("You must accept the terms of service to register.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accept_terms"].help_text = _notice_links()


class HealthConsentFields(forms.Form):
    """A patient's two separate consents (accounts.consents): the first is required, the second not."""

    consent_health_data = forms.BooleanField(
        label=consents.WORDING[ConsentKind.HEALTH_DATA],
        error_messages={"required": _("Without this consent telemed cannot keep your health data.")},
    )
    consent_shared_space = forms.BooleanField(
        label=consents.WORDING[ConsentKind.SHARED_SPACE],
        required=False,
        help_text=_("Optional: without it your Welbox works, but no doctor sees what you share."),
    )


class ConsentsRenewForm(forms.Form):
    """The consents a new version of the notices (or a withdrawn one) asks for, one box each; a
    patient also chooses again about the shared clinical space."""

    def __init__(self, *args, missing, ask_shared_space: bool, shared_space: bool, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in missing:
            self.fields[kind] = forms.BooleanField(
                label=consents.WORDING[kind], error_messages={"required": _("This consent is needed to go on.")}
            )
        if ask_shared_space:
            self.fields[ConsentKind.SHARED_SPACE] = forms.BooleanField(
                label=consents.WORDING[ConsentKind.SHARED_SPACE], required=False, initial=shared_space,
                help_text=_("Optional: without it your Welbox works, but no doctor sees what you share."),
            )  # fmt: skip
        self.links = _notice_links()

    def given(self) -> list[str]:
        return [kind for kind, value in self.cleaned_data.items() if value]


class Sectioned:
    """Groups the fields of a long form into titled sections for the template."""

    SECTIONS: list[tuple[str, list[str]]] = []

    def sections(self):
        return [(title, [self[name] for name in names if name in self.fields]) for title, names in self.SECTIONS]


PERSON = ["first_name", "last_name", "codice_fiscale", "birth_date", "sex", "phone"]
ACCOUNT = ["email", "password1", "password2"]


class PatientRegistrationForm(Sectioned, PersonFields, IdentityFields, TermsField, HealthConsentFields):
    SECTIONS = [
        (_("About you"), PERSON),
        (_("Your account"), ACCOUNT),
        (_("Privacy"), ["accept_terms", "consent_health_data", "consent_shared_space"]),
    ]


class CertificationFileField(forms.FileField):
    widget = forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png,image/webp"})

    def __init__(self, **kwargs):
        super().__init__(
            help_text=_("PDF or image, at most %(mb)d MB.") % {"mb": settings.CERTIFICATION_MAX_BYTES // (1024 * 1024)},
            error_messages={
                "required": _("This certification is required."),
                "empty": _("The file is empty."),
            },
            **kwargs,
        )


class DoctorRegistrationForm(Sectioned, PersonFields, IdentityFields, TermsField):
    SECTIONS = [
        (_("Personal data"), PERSON),
        (
            _("Professional data"),
            [
                "title",
                "specialties",
                "ordine_province",
                "ordine_number",
                "partita_iva",
                "iban",
                "practice_address",
                "practice_city",
                "practice_postcode",
                "practice_province",
                "languages",
                "presentation",
            ],
        ),
        (_("Certifications required by law"), ["certification_degree_albo", "certification_insurance"]),
        (_("Your account"), ACCOUNT),
        (_("Privacy"), ["accept_terms"]),
    ]

    title = forms.ChoiceField(
        label=_("Your title"),
        choices=[("", _("As in the codice fiscale"))] + DoctorTitle.choices,
        required=False,
        help_text=_("How the platform names you: on your public page, to patients, on invoices and reports."),
    )
    specialties = forms.ModelMultipleChoiceField(
        label=_("Specialties"),
        queryset=Specialty.objects.all(),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one specialty.")},
    )
    ordine_province = forms.ChoiceField(label=_("Ordine dei Medici (province)"), choices=[("", "—")] + PROVINCE_CHOICES)
    ordine_number = forms.RegexField(
        label=_("Registration number in the Ordine"),
        regex=r"^[0-9A-Za-z/-]{1,20}$",
        error_messages={"invalid": _("Enter the registration number as printed on your Ordine card.")},
    )
    partita_iva = forms.CharField(label=_("Partita IVA"), max_length=20)
    iban = forms.CharField(label=_("IBAN for your payouts"), max_length=50)
    practice_address = forms.CharField(label=_("Practice address"), max_length=200)
    practice_city = forms.CharField(label=_("City"), max_length=100)
    practice_postcode = forms.RegexField(
        label=_("Postcode (CAP)"), regex=r"^\d{5}$", error_messages={"invalid": _("A CAP has 5 digits.")}
    )
    practice_province = forms.ChoiceField(label=_("Province"), choices=[("", "—")] + PROVINCE_CHOICES)
    languages = forms.ModelMultipleChoiceField(
        label=_("Languages spoken"),
        queryset=Language.objects.all(),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one language.")},
    )
    presentation = forms.CharField(
        label=_("Presentation (shown on your public profile)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    certification_degree_albo = CertificationFileField(label=CertificationKind.DEGREE_ALBO.label)
    certification_insurance = CertificationFileField(label=CertificationKind.INSURANCE.label)

    def clean_partita_iva(self) -> str:
        return _identifier(identifiers.clean_partita_iva, self.cleaned_data["partita_iva"])

    def clean_iban(self) -> str:
        return _identifier(identifiers.clean_iban, self.cleaned_data["iban"])

    def certifications(self) -> list[UploadedCertification]:
        return [
            UploadedCertification(kind=kind, name=upload.name, stream=upload.file, size=upload.size)
            for kind in CertificationKind
            if (upload := self.cleaned_data.get(f"certification_{kind.value}"))
        ]


class StructureRegistrationForm(Sectioned, PersonFields, TermsField):
    SECTIONS = [
        (_("The structure"), ["structure_name", "partita_iva", "address", "city", "province"]),
        (_("The manager"), ["first_name", "last_name", "phone"]),
        (_("Your account"), ACCOUNT),
        (_("Privacy"), ["accept_terms"]),
    ]

    phone = _phone_field()
    structure_name = forms.CharField(label=_("Name of the structure"), max_length=160)
    partita_iva = forms.CharField(label=_("Partita IVA of the structure"), max_length=20)
    address = forms.CharField(label=_("Address"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=100)
    province = forms.ChoiceField(label=_("Province"), choices=[("", "—")] + PROVINCE_CHOICES)

    def clean_partita_iva(self) -> str:
        return _identifier(identifiers.clean_partita_iva, self.cleaned_data["partita_iva"])


class SecretaryRegistrationForm(Sectioned, PersonFields, TermsField):
    SECTIONS = [
        (_("About you"), ["first_name", "last_name", "phone"]),
        (_("Your account"), ["password1", "password2"]),
        (_("Privacy"), ["accept_terms"]),
    ]
    ask_email = False
    phone = _phone_field(required=False)


class TOTPCodeForm(forms.Form):
    code = forms.RegexField(
        label=_("6-digit code"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("The code has 6 digits."), "required": _("Enter the code from your app.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class SecondFactorCodeForm(forms.Form):
    """The login's second step: a code of the authenticator app, or one of the recovery codes."""

    code = forms.CharField(
        label=_("Code"),
        max_length=40,
        help_text=_("The 6-digit code your app shows, or one of your recovery codes if you lost the phone."),
        error_messages={"required": _("Enter the code from your app.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "autocapitalize": "off", "spellcheck": "false"}
        ),
    )


def _current_password_field(label=_("Current password")) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _code_field(label, help_text="") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=40,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}),
    )


class PasswordChangeForm(forms.Form):
    current_password = _current_password_field()
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters, not only digits, not too similar to your name or e-mail."),
    )
    new_password2 = forms.CharField(
        label=_("Repeat the new password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password1") and data.get("new_password2") and data["new_password1"] != data["new_password2"]:
            self.add_error("new_password2", _("The two passwords are not the same."))
        return data


class EmailChangeForm(forms.Form):
    email = forms.EmailField(label=_("New e-mail address"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    current_password = _current_password_field()


class SessionsEndForm(forms.Form):
    """Log out one other device (``session``, the id of its row) or, without one, all the others."""

    session = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    current_password = _current_password_field()


class ReauthenticationForm(forms.Form):
    """Password and a current code, before showing new recovery codes."""

    password = _current_password_field()
    code = _code_field(_("Code"), _("The 6-digit code your app shows now, or one of your recovery codes."))


class TOTPReplaceForm(forms.Form):
    """Moving the second factor to a new app: the password, a proof of the current factor, the new app's code."""

    password = _current_password_field()
    current_code = _code_field(
        _("Code of your current app"), _("The 6-digit code of the app you use now, or one of your recovery codes.")
    )
    new_code = forms.RegexField(
        label=_("Code of the new app"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("The code has 6 digits."), "required": _("Enter the code from your app.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, current_code_needed: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not current_code_needed:
            del self.fields["current_code"]


class DoctorProfileForm(Sectioned, forms.Form):
    """The part of a doctor's profile the doctor edits alone (fields shared with registration)."""

    SECTIONS = [
        (_("Public profile"), ["title", "presentation", "specialties", "languages", "available_for_second_opinion"]),
        (_("Practice"), ["practice_address", "practice_city", "practice_postcode", "practice_province", "phone"]),
        (_("Payouts"), ["iban"]),
    ]
    # Left out of a form, the title stays as it is.
    title = forms.TypedChoiceField(label=_("Your title"), choices=DoctorTitle.choices, required=False, empty_value=None)
    presentation = DoctorRegistrationForm.base_fields["presentation"]
    specialties = DoctorRegistrationForm.base_fields["specialties"]
    languages = DoctorRegistrationForm.base_fields["languages"]
    available_for_second_opinion = forms.BooleanField(label=_("Available for second opinions"), required=False)
    practice_address = DoctorRegistrationForm.base_fields["practice_address"]
    practice_city = DoctorRegistrationForm.base_fields["practice_city"]
    practice_postcode = DoctorRegistrationForm.base_fields["practice_postcode"]
    practice_province = DoctorRegistrationForm.base_fields["practice_province"]
    phone = _phone_field()
    iban = DoctorRegistrationForm.base_fields["iban"]

    clean_iban = DoctorRegistrationForm.clean_iban

    @classmethod
    def initial_for(cls, profile) -> dict:
        return {
            "title": profile.title,
            "presentation": profile.presentation,
            "specialties": [s.code for s in profile.specialties.all()],
            "languages": [lang.code for lang in profile.languages.all()],
            "available_for_second_opinion": profile.available_for_second_opinion,
            "practice_address": profile.practice_address,
            "practice_city": profile.practice_city,
            "practice_postcode": profile.practice_postcode,
            "practice_province": profile.practice_province,
            "phone": profile.phone,
            "iban": profile.iban,
        }


class PatientProfileForm(forms.Form):
    phone = _phone_field()


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"), widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))


class CertificationUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("Certification"), choices=CertificationKind.choices)
    file = CertificationFileField(label=_("File"))

    def upload(self) -> UploadedCertification:
        upload = self.cleaned_data["file"]
        return UploadedCertification(
            kind=self.cleaned_data["kind"], name=upload.name, stream=upload.file, size=upload.size
        )
