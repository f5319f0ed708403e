app_name = "boxes"

urlpatterns: list = []
