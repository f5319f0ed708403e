from django.urls import path

from telemed.care import views

app_name = "care"

urlpatterns = [
    path("", views.links, name="links"),
    path("invite/", views.invite, name="invite"),
    path("request/<int:doctor_id>/", views.request_link, name="request"),
    path("<int:link_id>/accept/", views.accept, name="accept"),
    path("<int:link_id>/decline/", views.decline, name="decline"),
    path("<int:link_id>/revoke/", views.revoke, name="revoke"),
    path("join/<str:token>/", views.join, name="join"),
]
