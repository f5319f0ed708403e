from django.urls import path

from telemed.reminders import views

app_name = "reminders"

urlpatterns = [
    path("", views.agenda, name="agenda"),
    path("new/", views.create, name="create"),
    path("patients/", views.patients, name="patients"),
    path("settings/", views.agenda_settings, name="settings"),
    path("settings/email/", views.agenda_email, name="settings_email"),
    path("settings/feed/", views.feed_create, name="feed_create"),
    path("settings/feed/revoke/", views.feed_revoke, name="feed_revoke"),
    path("settings/feed/details/", views.feed_details, name="feed_details"),
    path("feed/<str:token>.ics", views.feed, name="feed"),
    path("<int:reminder_id>/", views.detail, name="detail"),
    path("<int:reminder_id>/edit/", views.edit, name="edit"),
    path("<int:reminder_id>/stop/", views.stop, name="stop"),
    path("<int:reminder_id>/mute/", views.mute, name="mute"),
    path("<int:reminder_id>/take/", views.take, name="take"),
    path("<int:reminder_id>/reminder.ics", views.ics, name="ics"),
]
