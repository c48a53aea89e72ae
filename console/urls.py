from django.contrib.auth import views as auth_views
from django.urls import path

from .login import ThrottledAuthenticationForm
from .views import app_setup, audit, conversations, dashboard, history, message_fixes, search

app_name = "console"

urlpatterns = [
    path("", conversations.index, name="index"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="console/login.html",
            redirect_authenticated_user=True,
            authentication_form=ThrottledAuthenticationForm,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
    path("bots/<int:bot_id>/", conversations.conversation_list, name="conversations"),
    path("bots/<int:bot_id>/conversations/<int:pk>/", history.conversation_history, name="history"),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/updates",
        history.history_updates,
        name="history_updates",
    ),
    path("bots/<int:bot_id>/conversations/<int:pk>/reply", history.reply, name="reply"),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/trace",
        history.message_trace,
        name="message_trace",
    ),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/<slug:verb>",
        message_fixes.fix_message,
        name="fix_message",
    ),
    path("bots/<int:bot_id>/app-setup/", app_setup.app_setup, name="app_setup"),
    path("search/", search.search, name="search"),
    path("audit/", audit.outbound_log, name="audit"),
    path("audit/export.csv", audit.outbound_csv, name="audit_csv"),
    path("audit/actions/", audit.operator_actions, name="operator_actions"),
    path("dashboard/", dashboard.dashboard_page, name="dashboard"),
]
