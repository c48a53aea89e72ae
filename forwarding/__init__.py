"""Forwarding inbound messages to the operators' webhook endpoints.

* `models` — endpoints, one delivery per message × endpoint, one attempt per try.
* `endpoints` — the bot's primary endpoint (Bot.webhook_url), delivery rows, re-enabling.
* `delivery` — signing, one attempt, the retry schedule, endpoint health, the sweeper.
* `replay` — replaying deliveries and sending test events from the admin.
* `tasks` — the thin Celery tasks.
"""
