app_name = "dicom"

urlpatterns: list = []
