from django.urls import path

from telemed.visits import views

app_name = "visits"

urlpatterns = [
    path("", views.visit_list, name="list"),
    path("agenda/", views.agenda, name="agenda"),
    path("book/<slug:slug>/", views.book, name="book"),
    path("<int:booking_id>/", views.booking, name="booking"),
    path("proposals/<int:proposal_id>/", views.proposal, name="proposal"),
    path("<int:booking_id>/room/", views.room, name="room"),
    path("<int:booking_id>/report/", views.report, name="report"),
    path("<int:booking_id>/room/file/", views.room_file, name="room_file"),
]
