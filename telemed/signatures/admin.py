from django.contrib import admin

from telemed.signatures.models import (
    CertificateAuthority,
    RemoteCredential,
    RemoteSignerProvider,
    SignatureRecord,
    SigningAttempt,
    SigningCertificate,
    SigningDevice,
)


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "not_after"]
    fields = ["name", "created_at", "not_after"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # made by `manage.py signing_ca_create`


@admin.register(SigningCertificate)
class SigningCertificateAdmin(admin.ModelAdmin):
    list_display = ["subject", "doctor", "not_after", "revoked_at"]
    search_fields = ["subject", "doctor__email"]
    fields = ["doctor", "subject", "serial_number", "not_before", "not_after", "revoked_at", "revocation_reason"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(SigningDevice)
class SigningDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "state", "failed_attempts", "created_at", "locked_at"]
    fields = ["user", "state", "failed_attempts", "created_at", "confirmed_at", "locked_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(SigningAttempt)
class SigningAttemptAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "outcome", "documents"]
    list_filter = ["outcome"]
    readonly_fields = ["at", "user", "device", "outcome", "documents"]


@admin.register(RemoteSignerProvider)
class RemoteSignerProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "base_url", "active"]
    fields = ["name", "base_url", "active"]


@admin.register(RemoteCredential)
class RemoteCredentialAdmin(admin.ModelAdmin):
    list_display = ["doctor", "provider", "credential_id", "subject"]
    fields = ["doctor", "provider", "credential_id", "subject", "created_at"]
    readonly_fields = fields


@admin.register(SignatureRecord)
class SignatureRecordAdmin(admin.ModelAdmin):
    list_display = ["title", "signer_name", "signed_at", "level", "backend"]
    search_fields = ["public_id", "signer_name", "sha256"]
    readonly_fields = [f.name for f in SignatureRecord._meta.fields]
