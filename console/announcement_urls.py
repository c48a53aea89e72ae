from django.urls import path

from console.views import announcement_recipients
from console.views import announcements as views

app_name = "announcements"

urlpatterns = [
    path("", views.announcement_list, name="list"),
    path("new/", views.compose, name="compose"),
    path("schedule-preview/", views.schedule_preview, name="schedule_preview"),
    path("message-preview/", views.message_preview, name="message_preview"),
    path("audience/", views.audience_results, name="audience"),
    path("estimate/", views.run_estimate, name="estimate"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.compose, name="edit"),
    path("<int:pk>/recipients/", announcement_recipients.recipients, name="recipients"),
    path("<int:pk>/<str:verb>/", views.act, name="act"),
]
