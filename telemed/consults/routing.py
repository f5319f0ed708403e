from django.urls import path

from telemed.consults.consumers import ConsultThreadConsumer

websocket_urlpatterns = [path("ws/consults/<int:consult_id>/", ConsultThreadConsumer.as_asgi())]
