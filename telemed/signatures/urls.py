from django.urls import path

from telemed.signatures import views

app_name = "signatures"

urlpatterns = [
    path("device/", views.device, name="device"),
    path("remote/", views.remote_configure, name="remote_configure"),
    path("remote/remove/", views.remote_remove, name="remote_remove"),
    path("verify/", views.verify, name="verify"),
    path("verify/<uuid:public_id>/", views.verify_document, name="verify_document"),
    path("ca.cer", views.ca_certificate, name="ca_certificate"),
]
