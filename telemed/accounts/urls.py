from django.urls import path

from telemed.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("register/", views.register_choice, name="register"),
    path("profile/", views.profile_edit, name="profile_edit"),
    path("register/patient/", views.register_patient, name="register_patient"),
    path("register/doctor/", views.register_doctor, name="register_doctor"),
    path("register/structure/", views.register_structure, name="register_structure"),
    path("verify-email/resend/", views.verify_email_resend, name="verify_email_resend"),
    path("verify-email/<str:token>/", views.verify_email, name="verify_email"),
    path("two-factor/setup/", views.totp_setup, name="totp_setup"),
    path("two-factor/verify/", views.totp_verify, name="totp_verify"),
    path("two-factor/replace/", views.totp_replace, name="totp_replace"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("two-factor/recovery-codes/new/", views.recovery_codes_regenerate, name="recovery_codes_regenerate"),
    path("security/", views.security, name="security"),
    path("security/password/", views.password_change, name="password_change"),
    path("security/email/", views.email_change, name="email_change"),
    path("security/email/confirm/<str:token>/", views.email_change_confirm, name="email_change_confirm"),
    path("security/sessions/end/", views.sessions_end_others, name="sessions_end_others"),
    path("invitation/<str:token>/", views.invitation, name="invitation"),
    path("notices/<str:kind>/", views.notice, name="notice"),
    path("notices/<str:kind>/<str:version>/", views.notice_version, name="notice_version"),
    path("consents/", views.consents_page, name="consents"),
    path("consents/renew/", views.consents_renew, name="consents_renew"),
    path("consents/withdraw/", views.consent_withdraw, name="consent_withdraw"),
    path("consents/give/", views.consent_give, name="consent_give"),
    path("certifications/upload/", views.certification_upload, name="certification_upload"),
    path("certifications/<int:certification_id>/file/", views.certification_file, name="certification_file"),
    path("secretaries/invite/", views.secretary_invite, name="secretary_invite"),
    path("secretaries/<int:secretary_id>/remove/", views.secretary_remove, name="secretary_remove"),
    path("structure/invite/", views.structure_doctor_invite, name="structure_doctor_invite"),
    path("structure/doctors/<int:doctor_id>/detach/", views.structure_doctor_detach, name="structure_doctor_detach"),
]
