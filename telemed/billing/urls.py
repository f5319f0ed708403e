from django.urls import path

from telemed.billing import views

app_name = "billing"

urlpatterns = [
    path("tariffs/", views.doctor_tariffs, name="tariffs"),
    path("tariffs/preview/", views.tariff_preview, name="tariff_preview"),
    path("donation/", views.donation, name="donation"),
    path("structure/tariffs/", views.structure_tariffs, name="structure_tariffs"),
    path("structure/doctors/<int:doctor_id>/tariffs/", views.structure_doctor_tariffs, name="structure_doctor_tariffs"),
]
