from django.urls import path

from telemed.workers import views

app_name = "workers"

urlpatterns = [
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<str:task_id>/run-again/", views.task_run_again, name="task_run_again"),
]
