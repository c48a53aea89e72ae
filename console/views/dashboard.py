from django.shortcuts import render

from conversations.services import bots_visible_to
from deletions import services as deletion_services

from .. import dashboard
from ..charts import traffic_chart
from ..login_required import login_required
from .scoping import int_param, visible_bot_or_404


@login_required
def dashboard_page(request):
    all_bots = bots_visible_to(request.user).order_by("name")
    bot_id = int_param(request, "bot")
    bot = visible_bot_or_404(request.user, bot_id) if bot_id is not None else None
    scope = all_bots.filter(pk=bot.pk) if bot else all_bots
    days, totals = dashboard.daily_stats(scope)
    agents = dashboard.agent_health(scope)
    dashboard.add_media_storage(agents)
    being_deleted = deletion_services.bots_being_deleted(agent.bot.pk for agent in agents)
    for agent in agents:
        agent.bot.deletion_job_id = being_deleted.get(agent.bot.pk)
    return render(
        request,
        "console/dashboard.html",
        {
            "bots": all_bots,
            "bot": bot,
            "chart": traffic_chart(days),
            "health": dashboard.delivery_health(scope, totals),
            "agents": agents,
        },
    )
