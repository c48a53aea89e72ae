import os

import django
from django.core.handlers.wsgi import WSGIHandler

from .request_body import Request

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")


class Handler(WSGIHandler):
    """Django's handler, whose requests also read a de-chunked body (botadmin.request_body)."""

    request_class = Request


# What django.core.wsgi.get_wsgi_application does, with the handler above.
django.setup(set_prefix=False)
application = Handler()
