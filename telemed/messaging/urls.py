from django.urls import path

from telemed.messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("sent/", views.sent, name="sent"),
    path("new/patient/", views.new_to_patient, name="new_to_patient"),
    path("new/intramed/", views.new_intramed, name="new_intramed"),
    path("<int:conversation_id>/", views.conversation, name="conversation"),
    path("<int:conversation_id>/replies/", views.toggle_replies, name="toggle_replies"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
]
