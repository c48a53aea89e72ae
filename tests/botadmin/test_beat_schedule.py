"""When beat runs the periodic tasks: the nightly ones at night in the deployment's zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.schedules import maybe_schedule
from django.conf import settings

from botadmin.celery import app


@pytest.mark.parametrize(
    ("entry", "at"), [("purge-expired-messages", (3, 17)), ("expire-media", (3, 47))]
)
def test_the_nightly_jobs_run_at_night_in_the_deployments_time_zone(entry, at):
    local = ZoneInfo(settings.TIME_ZONE)  # Asia/Shanghai unless the deployment says otherwise
    schedule = maybe_schedule(settings.CELERY_BEAT_SCHEDULE[entry]["schedule"], app=app)  # as beat
    midday = datetime(2026, 6, 1, 12, 0, tzinfo=local)
    with time_machine.travel(midday, tick=False):  # it last ran at local midday
        next_run = (schedule.now() + schedule.remaining_estimate(midday)).astimezone(local)

    assert (next_run.date(), next_run.hour, next_run.minute) == (date(2026, 6, 2), *at)
