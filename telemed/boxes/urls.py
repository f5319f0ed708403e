from django.urls import path

from telemed.boxes import views

app_name = "boxes"

urlpatterns = [
    path("", views.box_home, name="home"),
    path("space/", views.space, name="space"),
    path("shared/", views.shared_with_me, name="shared_with_me"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("documents/<int:document_id>/download", views.document_download, name="document_download"),
    path("documents/<int:document_id>/preview", views.document_preview, name="document_preview"),
    path("documents/<int:document_id>/rename", views.document_rename, name="document_rename"),
    path("documents/<int:document_id>/move", views.document_move, name="document_move"),
    path("documents/<int:document_id>/delete", views.document_delete, name="document_delete"),
    path("documents/<int:document_id>/share", views.document_share, name="document_share"),
    path("documents/<int:document_id>/hide", views.document_hide, name="document_hide"),
    path("documents/<int:document_id>/show", views.document_show, name="document_show"),
    path("shares/<int:share_id>/revoke", views.share_revoke, name="share_revoke"),
    path("folders/", views.folder_create, name="folder_create"),
    path("folders/<int:folder_id>/rename", views.folder_rename, name="folder_rename"),
    path("folders/<int:folder_id>/delete", views.folder_delete, name="folder_delete"),
    path("folders/<int:folder_id>/share", views.folder_share, name="folder_share"),
    path("uploads/", views.upload_create, name="upload_create"),
    path("uploads/form", views.upload_form, name="upload_form"),
    path("uploads/<uuid:upload_id>", views.upload_detail, name="upload"),
]
