from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from connectors.wecom_app_callback import callback as wecom_app_callback
from console.login import ThrottledAdminAuthenticationForm
from console.views.announcement_previews import uploaded_image
from messaging.media_links import serve as media_link
from messaging.scheduled_api import router as scheduled_messages_router

from .api import api, api_not_found
from .metrics import metrics_view
from .views import favicon, healthz, readyz, readyz_web

# The two busiest endpoints first: Django tries URL patterns in order.
api.add_router("", "messaging.api.router")
api.add_router("/", "messaging.callback_api.router")
api.add_router("", "messaging.upload_api.router")
api.add_router("/messages", scheduled_messages_router)
api.add_router("", "conversations.api.router")
api.add_router("/messages", "messaging.status_api.router")

urlpatterns = [
    # /api/ itself: django-ninja's root there is not exempt from the CSRF check, so a
    # POST would be refused as a form without its token.
    path("api/", api_not_found),
    path("api/", api.urls),
    # WeCom's encrypted callbacks to a self-built app bot (URL check and messages).
    path("api/wecom_app/<int:bot_id>/callback", wecom_app_callback, name="wecom_app_callback"),
    # Anything else under /api/, and /api itself: WeCom's envelope, 404, never a redirect.
    re_path(r"^api(?:/|$)", api_not_found),
    # WeCom's own paths (a robot tool given botadmin's host with /cgi-bin/webhook/send?key=…):
    # the same envelope, saying where botadmin's send URL is, not the console's HTML 404.
    re_path(r"^cgi-bin(?:/|$)", api_not_found),
    path("", RedirectView.as_view(pattern_name="console:index", permanent=False)),
    path("console/", include("console.urls")),
    path("favicon.ico", favicon),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("readyz/web", readyz_web, name="readyz_web"),
    path("metrics", metrics_view, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("console/announcements/", include("console.announcement_urls")),
    # Archived media behind signed links (forwarded bodies, the console's history).
    path("files/<str:token>", media_link, name="media_link"),
    # Images uploaded for announcements: agents and WeCom fetch them by URL.
    re_path(r"^media/announcements/(?P<name>[\w-]+\.\w+)$", uploaded_image),
]

if settings.BOTADMIN_BENCH_VIEWS:
    urlpatterns.insert(0, path("bench/", include("benchviews.urls")))

admin.site.site_header = "botadmin"
admin.site.site_title = "botadmin"
admin.site.site_url = "/console/"
admin.site.login_form = ThrottledAdminAuthenticationForm
