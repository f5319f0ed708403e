from django.urls import path

from telemed.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.centre, name="centre"),
    path("read/", views.mark_read, name="mark_read"),
    path("<int:notification_id>/open/", views.open_notification, name="open"),
    path("preferences/", views.preferences, name="preferences"),
    path("push/subscribe/", views.push_subscribe, name="push_subscribe"),
    path("push/unsubscribe/", views.push_unsubscribe, name="push_unsubscribe"),
    path("push/device/remove/", views.push_device_remove, name="push_device_remove"),
]
