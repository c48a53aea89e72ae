from django.contrib.auth import views as auth_views
from django.urls import path

from .login import ThrottledAuthenticationForm
from .views import (
    app_setup,
    audit,
    bot_contacts,
    bot_delete,
    bot_edit,
    bot_pause,
    bot_secrets,
    bots,
    conversation_delete,
    conversations,
    dashboard,
    deletion_jobs,
    docs,
    history,
    media,
    message_fixes,
    search,
    setup_checklist,
    webhook_recovery,
    webhooks,
)

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
    path("bots/", bots.bot_list, name="bots"),
    path("bots/new/", bot_edit.bot_create, name="bot_create"),
    path("bots/<int:bot_id>/", conversations.conversation_list, name="conversations"),
    # The bot page; its sections post to the URLs under it.
    path("bots/<int:bot_id>/settings/", bots.bot_page, name="bot"),
    path("bots/<int:bot_id>/settings/test", bots.test_connection, name="bot_test"),
    path("bots/<int:bot_id>/settings/resume", bot_pause.resume_sending, name="bot_resume"),
    path("bots/<int:bot_id>/settings/connector", bot_edit.connector_settings, name="bot_connector"),
    path("bots/<int:bot_id>/settings/sending", bot_edit.sending, name="bot_sending"),
    path("bots/<int:bot_id>/operators/add", bot_edit.add_operator, name="bot_operator_add"),
    path(
        "bots/<int:bot_id>/operators/<int:user_id>/remove",
        bot_edit.remove_operator,
        name="bot_operator_remove",
    ),
    path("bots/<int:bot_id>/delete", bot_delete.bot_delete, name="bot_delete"),
    path("deletions/<int:job_id>/", deletion_jobs.deletion_page, name="deletion"),
    path("deletions/<int:job_id>/status", deletion_jobs.deletion_status, name="deletion_status"),
    path("deletions/<int:job_id>/retry", deletion_jobs.deletion_retry, name="deletion_retry"),
    path("bots/<int:bot_id>/secrets/rotate", bot_secrets.rotate, name="bot_rotate"),
    path("bots/<int:bot_id>/secrets/<slug:which>/reveal", bot_secrets.reveal, name="bot_reveal"),
    path(
        "bots/<int:bot_id>/contacts/add", bot_contacts.add_conversation, name="bot_conversation_add"
    ),
    path("bots/<int:bot_id>/contacts/sync", bot_contacts.sync_now, name="bot_sync"),
    path(
        "bots/<int:bot_id>/connection-status",
        bot_contacts.connection_status,
        name="bot_connection_status",
    ),
    path(
        "bots/<int:bot_id>/setup-checklist",
        setup_checklist.setup_checklist,
        name="bot_setup_checklist",
    ),
    path("docs/<slug:name>/", docs.doc_page, name="docs"),
    path(
        "bots/<int:bot_id>/contacts/sync-status", bot_contacts.sync_status, name="bot_sync_status"
    ),
    path("bots/<int:bot_id>/conversations/<int:pk>/", history.conversation_history, name="history"),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/updates",
        history.history_updates,
        name="history_updates",
    ),
    path("bots/<int:bot_id>/conversations/<int:pk>/reply", history.reply, name="reply"),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/delete",
        conversation_delete.conversation_delete,
        name="conversation_delete",
    ),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/trace",
        history.message_trace,
        name="message_trace",
    ),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/media/<int:media_id>",
        media.media_file,
        name="media_file",
    ),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/media/<int:media_id>"
        "/thumbnail",
        media.media_file,
        {"variant": "thumbnail"},
        name="media_thumbnail",
    ),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/media/<int:media_id>"
        "/fetch-again",
        media.fetch_again,
        name="media_fetch_again",
    ),
    path(
        "bots/<int:bot_id>/conversations/<int:pk>/messages/<int:message_id>/<slug:verb>",
        message_fixes.fix_message,
        name="fix_message",
    ),
    path("bots/<int:bot_id>/app-setup/", app_setup.app_setup, name="app_setup"),
    path("bots/<int:bot_id>/webhooks/", webhooks.webhook_list, name="webhooks"),
    path("bots/<int:bot_id>/webhooks/add", webhooks.endpoint_add, name="webhook_add"),
    path("bots/<int:bot_id>/webhooks/<int:endpoint_id>/", webhooks.endpoint_page, name="webhook"),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/change",
        webhooks.endpoint_change,
        name="webhook_change",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/secret/reveal",
        webhooks.endpoint_reveal_secret,
        name="webhook_reveal_secret",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/secret/rotate",
        webhooks.endpoint_rotate_secret,
        name="webhook_rotate_secret",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/test",
        webhooks.endpoint_test,
        name="webhook_test",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/delete",
        webhooks.endpoint_delete,
        name="webhook_delete",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/reenable",
        webhooks.endpoint_reenable,
        name="webhook_reenable",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/recover",
        webhook_recovery.endpoint_recover,
        name="webhook_recover",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/recover/progress",
        webhook_recovery.endpoint_recover_progress,
        name="webhook_recover_progress",
    ),
    path(
        "bots/<int:bot_id>/webhooks/<int:endpoint_id>/replay-failed",
        webhooks.endpoint_replay_failed,
        name="webhook_replay_failed",
    ),
    path(
        "bots/<int:bot_id>/webhooks/deliveries/<int:delivery_id>/replay",
        webhooks.delivery_replay,
        name="webhook_delivery_replay",
    ),
    path("search/", search.search, name="search"),
    path("audit/", audit.outbound_log, name="audit"),
    path("audit/export.csv", audit.outbound_csv, name="audit_csv"),
    path("audit/actions/", audit.operator_actions, name="operator_actions"),
    path("audit/actions/export.csv", audit.operator_actions_csv, name="operator_actions_csv"),
    path("dashboard/", dashboard.dashboard_page, name="dashboard"),
]
