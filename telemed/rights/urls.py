from django.urls import path

from telemed.rights import views

app_name = "rights"

urlpatterns = [
    path("export/", views.export_page, name="export"),
    path("export/<uuid:export_id>/download", views.export_download, name="export_download"),
    path("erasure/", views.erasure_page, name="erasure"),
    path("erasure/cancel/", views.erasure_cancel, name="erasure_cancel"),
    path("erasure/confirm/<str:token>/", views.erasure_confirm, name="erasure_confirm"),
]
