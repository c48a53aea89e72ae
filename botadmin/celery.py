import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")

app = Celery("botadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["messaging.announcements"])
