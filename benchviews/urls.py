from django.urls import include, path

urlpatterns = [
    path("send/", include("benchviews.send")),
    path("lists/", include("benchviews.lists")),
]
