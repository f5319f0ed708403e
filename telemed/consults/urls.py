from django.urls import path

from telemed.consults import views

app_name = "consults"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("queue/", views.queue, name="queue"),
    path("overdue/", views.overdue, name="overdue"),
    path("new/<slug:slug>/", views.consult_new, name="new"),
    path("<int:consult_id>/", views.detail, name="detail"),
    path("<int:consult_id>/start", views.start, name="start"),
    path("<int:consult_id>/decline", views.decline, name="decline"),
    path("<int:consult_id>/cancel", views.cancel, name="cancel"),
    path("<int:consult_id>/close", views.close, name="close"),
    path("<int:consult_id>/message", views.message, name="message"),
    path("<int:consult_id>/report", views.report_start, name="report"),
    path("<int:consult_id>/answer", views.answer, name="answer"),
    path("<int:consult_id>/attachments/<int:attachment_id>", views.attachment, name="attachment"),
    path("info/", views.info_inbox, name="info_inbox"),
    path("info/new/<slug:slug>/", views.info_new, name="info_new"),
    path("info/<int:info_id>/answer", views.info_answer, name="info_answer"),
    path("info/<int:info_id>/reject", views.info_reject, name="info_reject"),
]
