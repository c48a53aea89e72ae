"""/api/send against gunicorn started as `make run` starts it, on the test database."""

from concurrent.futures import ThreadPoolExecutor

import requests

from messaging.models import Message

from .conftest import running_gunicorn

TEXT = {"msgtype": "text", "text": {"content": "deploy finished"}}


def test_twenty_concurrent_requests_with_one_idempotency_key_store_one_message(
    gunicorn_server, bot, group
):
    base_url, _ = gunicorn_server
    url = f"{base_url}/api/send?secret={bot.secret}&conversation_id=wrGroup1"

    def post(_):
        return requests.post(url, json=TEXT, headers={"Idempotency-Key": "deploy-7"}, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))

    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    assert len({a.json()["msgid"] for a in answers}) == 1
    assert Message.objects.count() == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19


def test_the_secret_appears_in_no_log_line_of_the_server(gunicorn_server, bot, group):
    base_url, log_path = gunicorn_server
    secret = bot.secret
    query = f"secret={secret}&conversation_id="
    calls = [
        ("post", f"/api/send?{query}wrGroup1", {"json": TEXT}),  # accepted
        ("post", f"/api/send?{query}wrNope", {"json": TEXT}),  # 404
        ("post", f"/api/send?{query}wrGroup1", {"data": b"{nope"}),  # 400 not JSON
        ("post", f"/api/send?{query}wrGroup1", {"json": {"msgtype": "video"}}),  # 400
        ("get", f"/api/send?{query}wrGroup1", {}),  # 405
        ("post", f"/api/send?{query}wrGroup1&send_at=never", {"json": TEXT}),  # 400
        ("post", f"/api/nowhere?{query}wrGroup1", {"json": TEXT}),  # 404 envelope
        ("get", f"/admin/?{query}x", {"allow_redirects": False}),  # redirect to login
        ("get", f"/api/nowhere?next=/api/send%3Fsecret%3D{secret}%26a%3Db", {}),  # URL-encoded
        (
            "post",
            f"/api/send?conversation_id=wrGroup1&secret={secret}",
            {"json": {"secret": secret}},
        ),
    ]
    for method, path, options in calls:
        response = requests.request(method, base_url + path, timeout=10, **options)
        assert response.status_code < 500, (path, log_path.read_text()[-3000:])

    log = log_path.read_text()
    assert "/api/send?secret=********&conversation_id=wrNope" in log  # the access log ran
    assert secret not in log
    assert secret[:12] not in log


def test_an_unreachable_database_is_errcode_minus_1_with_503_not_a_500(tmp_path):
    """The caller is told to retry; nothing could have been stored."""
    unreachable = f"sqlite:///{tmp_path}/no/such/folder/db.sqlite3"
    with running_gunicorn(unreachable, tmp_path / "server.log") as base_url:
        response = requests.post(
            f"{base_url}/api/send?secret={'s' * 43}&conversation_id=wr1", json=TEXT, timeout=30
        )
    assert response.status_code == 503
    assert response.json() == {"errcode": -1, "errmsg": "system busy, retry later"}
