from django.urls import path

from telemed.rights import views

app_name = "rights"

urlpatterns = [
    path("export/", views.export_page, name="export"),
    path("export/<uuid:export_id>/download", views.export_download, name="export_download"),
]
