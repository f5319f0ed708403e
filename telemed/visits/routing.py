from django.urls import path

from telemed.visits.consumers import VisitRoomConsumer

websocket_urlpatterns = [path("ws/visits/<int:booking_id>/", VisitRoomConsumer.as_asgi())]
