
from botadmin.checks import check_deployment, check_settings


def ids(problems):
    return {problem.id for problem in problems}


def test_default_settings_pass_the_checks():
    assert check_settings() == []


def test_a_filesystem_broker_with_a_shared_database_is_flagged(settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"},
    }
    assert "botadmin.W001" in ids(check_settings())


def test_impossible_timeouts_are_errors(settings):
    settings.BRIDGE_READ_TIMEOUT = 0
    settings.BOTADMIN_SECRET_GRACE_HOURS = -1
    assert {"botadmin.E001", "botadmin.E002"} <= ids(check_settings())


def test_deploy_checks_warn_about_private_urls(settings):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    assert "botadmin.W002" in ids(check_deployment())
