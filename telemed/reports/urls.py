from django.urls import path

from telemed.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("new/", views.report_create, name="create"),
    path("sign/", views.reports_sign_batch, name="sign_batch"),
    path("<uuid:public_id>/", views.report_detail, name="detail"),
    path("<uuid:public_id>/edit/", views.report_edit, name="edit"),
    path("<uuid:public_id>/autosave/", views.report_autosave, name="autosave"),
    path("<uuid:public_id>/sign/", views.report_sign, name="sign"),
    path("<uuid:public_id>/pdf/", views.report_pdf, name="pdf"),
    path("<uuid:public_id>/correct/", views.report_correct, name="correct"),
    path("<uuid:public_id>/discard/", views.report_discard, name="discard"),
]
