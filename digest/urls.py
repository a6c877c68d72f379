app_name = "digest"
urlpatterns = []
