from django.urls import path

from telemed.dicom import views

app_name = "dicom"

urlpatterns = [
    path("", views.study_list, name="studies"),
    path("import/", views.import_page, name="import"),
    path("imports/", views.import_create, name="import_create"),
    path("imports/<uuid:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<uuid:import_id>/files", views.import_file, name="import_file"),
    path("imports/<uuid:import_id>/batch", views.import_batch, name="import_batch"),
    path("imports/<uuid:import_id>/finish", views.import_finish, name="import_finish"),
    path("imports/<uuid:import_id>/cancel", views.import_cancel, name="import_cancel"),
    path("studies/<int:study_id>/", views.study_detail, name="study"),
    path("studies/<int:study_id>/share", views.study_share, name="study_share"),
    path("studies/<int:study_id>/hide", views.study_hide, name="study_hide"),
    path("studies/<int:study_id>/show", views.study_show, name="study_show"),
    path("studies/<int:study_id>/delete", views.study_delete, name="study_delete"),
    path("studies/<int:study_id>/deidentified.zip", views.study_deidentified, name="study_deidentified"),
    path("shares/<int:share_id>/revoke", views.share_revoke, name="share_revoke"),
    path("series/<int:series_id>/images", views.series_images, name="series_images"),
    path("series/<int:series_id>/thumbnail.png", views.series_thumbnail, name="series_thumbnail"),
    path("instances/<int:instance_id>/image.png", views.instance_image, name="instance_image"),
]
