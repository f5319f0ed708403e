"""Users, their roles and the profiles that go with each role."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from telemed.lib.italy import PROVINCE_CHOICES
from telemed.lib.text import account_email


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient")
    DOCTOR = "doctor", _("Doctor")
    SECRETARY = "secretary", _("Secretary")
    STRUCTURE_MANAGER = "structure_manager", _("Health-structure manager")
    STAFF = "staff", _("Platform staff")


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")


class DoctorTitle(models.TextChoices):
    """How a doctor is named before their name, as they chose it (the default follows the sex
    of their codice fiscale)."""

    DOTT = "dott", "Dott."
    DOTTSSA = "dottssa", "Dott.ssa"


# The title as it reads in each language: Italian tells a man from a woman, English does not.
TITLE_DISPLAY = {
    DoctorTitle.DOTT: pgettext_lazy("a doctor's title, a man", "Dr."),
    DoctorTitle.DOTTSSA: pgettext_lazy("a doctor's title, a woman", "Dr."),
}


def titled_name(title: str, full_name: str) -> str:
    """A doctor's name after their title, in the active language ("Dott.ssa Anna Bianchi")."""
    return f"{TITLE_DISPLAY.get(title, TITLE_DISPLAY[DoctorTitle.DOTT])} {full_name}"


# Contexts of the texts that agree with a person's gender (pgettext, {% blocktranslate context %}).
GRAMMAR_CONTEXTS = {"F": "to or about a woman", "M": "to or about a man", "": "to or about a person"}


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=account_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str):
        # E-mail addresses are unique regardless of case, and people type them both ways.
        return self.get(email__iexact=username)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_staff=True, is_superuser=True, role=Role.STAFF)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who logs in. Login is by e-mail; the role decides what they see."""

    email = models.EmailField(_("e-mail"), unique=True)
    first_name = models.CharField(_("first name"), max_length=80)
    last_name = models.CharField(_("last name"), max_length=80)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="it")
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    email_verified_at = models.DateTimeField(_("e-mail verified at"), null=True, blank=True)
    # The owner confirmed the deletion of the account: it is erased at this time unless they cancel
    # (the rights app keeps the request; a doctor leaves the directory from the confirmation on).
    erasure_due_at = models.DateTimeField(_("to be deleted on"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return f"{self.get_full_name()} <{self.email}>"

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_doctor(self) -> bool:
        return self.role == Role.DOCTOR

    @property
    def is_secretary(self) -> bool:
        return self.role == Role.SECRETARY

    @property
    def is_structure_manager(self) -> bool:
        return self.role == Role.STRUCTURE_MANAGER

    @property
    def display_name(self) -> str:
        """The one way the platform names a person: a doctor with the title they chose ("Dott.ssa
        Anna Bianchi"), anyone else by their full name. Every page, e-mail, notification and PDF
        uses it."""
        if self.is_doctor:
            profile = getattr(self, "doctor_profile", None)
            if profile is not None:
                return profile.display_name
        return self.get_full_name()

    @property
    def sex(self) -> str:
        """ "F" or "M" from the person's profile (the codice fiscale's sex), "" when not known:
        texts that address the person agree with it, and stay neutral when it is ""."""
        name = {Role.PATIENT: "patient_profile", Role.DOCTOR: "doctor_profile"}.get(self.role)
        profile = getattr(self, name, None) if name else None
        return profile.sex if profile is not None else ""

    @property
    def grammar_context(self) -> str:
        """The translation context of a text that addresses this person or speaks of them, so that
        Italian agrees with their gender ("Sarai collegata", "la dott.ssa"): a doctor by the title
        they chose, a patient by the codice fiscale's sex; a neutral form when neither is known."""
        if self.is_doctor:
            profile = getattr(self, "doctor_profile", None)
            sex = "" if profile is None else (Sex.FEMALE if profile.title == DoctorTitle.DOTTSSA else Sex.MALE)
        else:
            sex = self.sex
        return GRAMMAR_CONTEXTS.get(sex, GRAMMAR_CONTEXTS[""])

    @property
    def needs_second_factor(self) -> bool:
        """Doctors read their patients' records; staff reach every account, statement and payout
        from the back office. Both log in with a password and an authenticator code."""
        return self.is_doctor or self.is_staff


class PersonalData(models.Model):
    """The identity fields that Italian invoices and prescriptions need."""

    codice_fiscale = models.CharField(_("codice fiscale"), max_length=16, unique=True)
    birth_date = models.DateField(_("birth date"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    phone = models.CharField(_("phone"), max_length=32)

    class Meta:
        abstract = True


class PatientProfile(PersonalData):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="patient_profile")

    class Meta:
        verbose_name = _("patient profile")
        verbose_name_plural = _("patient profiles")

    def __str__(self) -> str:
        return self.user.get_full_name()


class TranslatedName(models.Model):
    """Reference rows named in Italian and English; ``name`` follows the active language."""

    name_it = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "it").startswith("en") else self.name_it

    def __str__(self) -> str:
        return self.name


class Specialty(TranslatedName):
    """A medical specialty from the controlled list (loaded by a data migration)."""

    code = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name_it"]
        verbose_name = _("specialty")
        verbose_name_plural = _("specialties")


class Language(TranslatedName):
    """A language a doctor speaks (ISO 639-1 code)."""

    code = models.CharField(max_length=3, unique=True)

    class Meta:
        ordering = ["name_it"]
        verbose_name = _("language")
        verbose_name_plural = _("languages")


class Structure(models.Model):
    """A health structure (clinic, poliambulatorio) that groups doctors and may set their tariffs."""

    name = models.CharField(_("name"), max_length=160)
    slug = models.SlugField(max_length=180, unique=True)
    partita_iva = models.CharField(_("partita IVA"), max_length=11, unique=True)
    address = models.CharField(_("address"), max_length=200)
    city = models.CharField(_("city"), max_length=100)
    province = models.CharField(_("province"), max_length=2, choices=PROVINCE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("health structure")
        verbose_name_plural = _("health structures")

    def __str__(self) -> str:
        return self.name


class DoctorProfile(PersonalData):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="doctor_profile")
    slug = models.SlugField(max_length=120, unique=True)
    ordine_province = models.CharField(_("Ordine dei Medici province"), max_length=2, choices=PROVINCE_CHOICES)
    ordine_number = models.CharField(_("Ordine registration number"), max_length=20)
    partita_iva = models.CharField(_("partita IVA"), max_length=11)
    iban = models.CharField(_("IBAN"), max_length=34)
    practice_address = models.CharField(_("practice address"), max_length=200)
    practice_city = models.CharField(_("city"), max_length=100)
    practice_postcode = models.CharField(_("postcode"), max_length=5)
    practice_province = models.CharField(_("province"), max_length=2, choices=PROVINCE_CHOICES)
    specialties = models.ManyToManyField(Specialty, related_name="doctors", verbose_name=_("specialties"))
    languages = models.ManyToManyField(Language, related_name="doctors", verbose_name=_("languages spoken"))
    title = models.CharField(_("title"), max_length=8, choices=DoctorTitle.choices, default=DoctorTitle.DOTT)
    presentation = models.TextField(_("presentation"), blank=True, max_length=4000)
    available_for_second_opinion = models.BooleanField(_("available for second opinions"), default=True)
    structure = models.ForeignKey(
        Structure, null=True, blank=True, on_delete=models.SET_NULL, related_name="doctors", verbose_name=_("structure")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Moves on every save() of the profile: the directory reindexes what changed since its last sweep.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("doctor profile")
        verbose_name_plural = _("doctor profiles")
        constraints = [
            models.UniqueConstraint(fields=["ordine_province", "ordine_number"], name="accounts_doctor_ordine_unique")
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """ "Dott.ssa Anna Bianchi" (Italian), "Dr. Anna Bianchi" (English)."""
        return titled_name(self.title, self.user.get_full_name())


class CertificationKind(models.TextChoices):
    DEGREE_ALBO = "degree_albo", _("Degree and registration in the Albo dei Medici")
    INSURANCE = "insurance", _("Professional liability insurance")


class VerificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending verification")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")


def certification_upload_path(instance: "Certification", filename: str) -> str:
    # The stored name never reuses the user's file name: it is not trusted.
    return f"private/certifications/{instance.doctor_id}/{uuid.uuid4().hex}"


class Certification(models.Model):
    """A document the law asks of a doctor, checked by platform staff."""

    doctor = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="certifications")
    kind = models.CharField(_("kind"), max_length=20, choices=CertificationKind.choices)
    file = models.FileField(upload_to=certification_upload_path, max_length=200)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    status = models.CharField(
        _("status"), max_length=10, choices=VerificationStatus.choices, default=VerificationStatus.PENDING
    )
    reviewed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=300, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-uploaded_at"]
        verbose_name = _("certification")
        verbose_name_plural = _("certifications")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.doctor}"


class SecretaryProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="secretary_profile")
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    doctors = models.ManyToManyField(DoctorProfile, through="SecretaryAssignment", related_name="secretaries")

    class Meta:
        verbose_name = _("secretary profile")
        verbose_name_plural = _("secretary profiles")

    def __str__(self) -> str:
        return self.user.get_full_name()


class SecretaryAssignment(models.Model):
    """A secretary works for a doctor from ``created_at`` on, until the doctor removes them."""

    secretary = models.ForeignKey(SecretaryProfile, on_delete=models.CASCADE, related_name="assignments")
    doctor = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="secretary_assignments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("secretary assignment")
        verbose_name_plural = _("secretary assignments")
        constraints = [models.UniqueConstraint(fields=["secretary", "doctor"], name="accounts_secretary_doctor_unique")]


class StructureManagerProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="structure_manager_profile")
    structure = models.ForeignKey(Structure, on_delete=models.CASCADE, related_name="managers")
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("structure manager profile")
        verbose_name_plural = _("structure manager profiles")

    def __str__(self) -> str:
        return f"{self.user.get_full_name()} ({self.structure})"


class InvitationKind(models.TextChoices):
    SECRETARY = "secretary", _("A doctor invites a secretary")
    STRUCTURE_DOCTOR = "structure_doctor", _("A structure invites a doctor")


class Invitation(models.Model):
    """An e-mailed invitation; it binds nothing until the invitee accepts it."""

    kind = models.CharField(max_length=20, choices=InvitationKind.choices)
    email = models.EmailField(_("e-mail"))
    token = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations_sent")
    doctor = models.ForeignKey(DoctorProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    structure = models.ForeignKey(Structure, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="secretary", doctor__isnull=False))
                | (models.Q(kind="structure_doctor", structure__isnull=False)),
                name="accounts_invitation_target",
            )
        ]

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class SecurityEventKind(models.TextChoices):
    """What changed in how an account logs in: each is e-mailed to the account and kept here."""

    PASSWORD_CHANGED = "password_changed", _("Password changed")
    PASSWORD_RESET = "password_reset", _("Password reset by e-mail link")
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled", _("Authenticator app activated")
    SECOND_FACTOR_REPLACED = "second_factor_replaced", _("Authenticator app replaced")
    SECOND_FACTOR_RESET_BY_STAFF = "second_factor_reset_by_staff", _("Second factor reset by the platform staff")
    SECOND_FACTOR_LOCKED = "second_factor_locked", _("Second factor locked after too many wrong codes")
    RECOVERY_CODES_CREATED = "recovery_codes_created", _("New recovery codes created")
    RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used to log in")
    EMAIL_CHANGE_REQUESTED = "email_change_requested", _("E-mail change requested")
    EMAIL_CHANGED = "email_changed", _("E-mail address changed")
    SESSIONS_ENDED = "sessions_ended", _("Logged out of every other device")


class SecurityEvent(models.Model):
    """The account's own security trail: who changed a credential of ``user``, when, from where.

    The clinical audit trail (the ``audit`` app) sits above accounts and records reads and changes of
    clinical records; changes of credentials are recorded here, by the services that make them, and
    the account holder sees them on the security page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="security_events")
    kind = models.CharField(_("what"), max_length=40, choices=SecurityEventKind.choices)
    # Staff resetting a second factor is the one case where someone else acts on the account.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    # The address an e-mail change came from, which is told too ("if this wasn't you").
    previous_email = models.EmailField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("security event")
        verbose_name_plural = _("security events")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.user_id})"


class AccountSession(models.Model):
    """One logged-in browser of a user, so that the account can list its sessions and end them.

    Django's session store knows sessions by key only; this row names the user, the browser and
    when it was last seen. It is written by a middleware at most every few minutes per session."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("account session")
        verbose_name_plural = _("account sessions")
        ordering = ["-last_seen_at"]


class SecondFactorThrottle(models.Model):
    """Wrong second-factor codes counted per account, whatever the session they come from, so that
    a 6-digit code cannot be guessed by spreading attempts over many logins (django-otp's own
    back-off is per device and restarts with each new device)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="second_factor_throttle"
    )
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("second-factor attempt counter")
        verbose_name_plural = _("second-factor attempt counters")


class NoticeKind(models.TextChoices):
    PRIVACY = "privacy", _("Privacy notice")
    TERMS = "terms", _("Terms of service")


class Notice(models.Model):
    """One version of the privacy notice (GDPR art. 13) or of the terms. The version in force is
    the newest one published; publishing a new one asks every account to accept it again at
    its next page (accounts.consents)."""

    kind = models.CharField(_("kind"), max_length=10, choices=NoticeKind.choices)
    version = models.CharField(_("version"), max_length=20)
    # The binding text, in Italian, as people read it on the page (paragraphs split by blank lines).
    body = models.TextField(_("text"))
    published_at = models.DateTimeField(_("in force from"), default=timezone.now)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["kind", "-published_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="accounts_notice_version_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version}"


class ConsentKind(models.TextChoices):
    PRIVACY = "privacy", _("I have read the privacy notice")
    TERMS = "terms", _("I accept the terms of service")
    HEALTH_DATA = "health_data", _("Processing of my health data")
    SHARED_SPACE = "shared_space", _("The shared clinical space")


class Consent(models.Model):
    """One consent as given: by whom, to which version of which notice, with the exact wording,
    when; and when it was withdrawn. A new version or a new consent is a new row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(_("kind"), max_length=20, choices=ConsentKind.choices)
    # The version of the notice the consent was given under (empty: none was published yet).
    version = models.CharField(_("version"), max_length=20, blank=True)
    text = models.TextField(_("wording agreed to"))
    given_at = models.DateTimeField(_("given"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-given_at", "-id"]
        indexes = [models.Index(fields=["user", "kind"], name="accounts_consent_user_kind")]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.version}"
