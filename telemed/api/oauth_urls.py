"""The OAuth 2.1 endpoints apps use, and only those: authorization (the platform's own login,
second factor and consents first, as for every page), token (code and refresh grants) and
revocation. Applications are registered by staff in the back office, never by a form here."""

from django.urls import path
from oauth2_provider import views

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize/", views.AuthorizationView.as_view(), name="authorize"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("revoke_token/", views.RevokeTokenView.as_view(), name="revoke-token"),
]
