from django.urls import path

from console.views import (
    announcement_audience,
    announcement_compose,
    announcement_previews,
    announcement_recipients,
)
from console.views import announcements as views

app_name = "announcements"

urlpatterns = [
    path("", views.announcement_list, name="list"),
    path("new/", announcement_compose.compose, name="compose"),
    path("schedule-preview/", announcement_previews.schedule_preview, name="schedule_preview"),
    path("message-preview/", announcement_previews.message_preview, name="message_preview"),
    path("audience/", announcement_audience.audience_results, name="audience"),
    path("audience/all/", announcement_audience.select_all_matching, name="audience_all"),
    path("estimate/", announcement_previews.run_estimate, name="estimate"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", announcement_compose.compose, name="edit"),
    path("<int:pk>/recipients/", announcement_recipients.recipients, name="recipients"),
    path("<int:pk>/<str:verb>/", views.act, name="act"),
]
