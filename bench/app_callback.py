"""Benchmark of a WeCom app bot: encrypted callbacks received, and sends through the app API.

    .venv/bin/python bench/app_callback.py [--events 3000] [--threads 8] [--sends 1000]

1. Starts gunicorn as `make run` does and posts N encrypted text callbacks (each
   its own MsgId, encrypted beforehand as WeCom would) from 8 client threads to
   the bot's /api/wecom_app/<id>/callback, and N seed-format callbacks to
   /api/callback on the same server and database. Prints accepted/s and
   p50/p99 of each and the ratio app ÷ /api/callback (aim ≥ 0.6: decryption is
   the only extra work).
2. Sends M messages to M members through the fake WeCom app API: the
   connector's `send()` alone (token from the shared cache, wire body, errcode
   classification; aim ≥ 0.5 of the baseline), and queued then delivered in
   this process by the delivery engine (`messaging.delivery.deliver`, what a
   worker runs). The baseline is a plain loop posting the same bodies to the
   fake's message/send with one token.

Runs on its own SQLite database in var/bench-app-callback/ unless DATABASE_URL /
CACHE_URL / CELERY_BROKER_URL are set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    answered_ok,
    manage,
    post_many,
    server_environment,
    start_server,
)  # noqa: E402

CORP_ID = "wwbench0000000001"
TOKEN = "benchToken0123456789abcdefABCDEF"
KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SETUP = """
import json
from connectors.wecom_app import WeComAppConnector
from conversations.models import Bot
bot = Bot.objects.filter(name="bench-app").first() or Bot(name="bench-app")
bot.connector = WeComAppConnector.kind
bot.agent_url, bot.agent_token = "", ""
bot.connector_settings = {{"corp_id": "{corp}", "agent_id": "1000002", "app_secret": "s",
    "callback_token": "{token}", "encoding_aes_key": "{key}"}}
bot.save()
seed = Bot.objects.filter(name="bench-seed").first() or Bot.objects.create(
    name="bench-seed", agent_url="http://127.0.0.1:9", agent_token="t" * 32)
print(json.dumps({{"app": bot.pk, "seed_secret": seed.secret}}))
"""
RUN = uuid.uuid4().hex[:8]


def encrypted_callbacks(n: int, prefix: str) -> list[tuple[dict, bytes]]:
    from connectors.wecom_app_crypto import CallbackCrypto

    crypto = CallbackCrypto(TOKEN, KEY, CORP_ID)
    out = []
    for i in range(n):
        xml = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA["
            f"zhangsan]]></FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType>"
            "<![CDATA[text]]></MsgType><Content><![CDATA[bench: 明天上午十点开会]]></Content>"
            f"<MsgId>{prefix}{RUN}{i}</MsgId><AgentID>1000002</AgentID></xml>"
        )
        body, query = crypto.encrypt_message(xml, str(i), agent_id=1000002)
        out.append((query, body.encode()))
    return out


def seed_callbacks(n: int, secret: str, prefix: str) -> list[tuple[dict, bytes]]:
    return [
        (
            {},
            json.dumps(
                {
                    "secret": secret,
                    "msgtype": "text",
                    "conversation_id": "zhangsan",
                    "conversation_type": "user",
                    "sender": "zhangsan",
                    "text": {"content": "bench: 明天上午十点开会"},
                    "msgid": f"{prefix}{RUN}{i}",
                    "timestamp": int(time.time()),
                },
                ensure_ascii=False,
            ).encode(),
        )
        for i in range(n)
    ]


def post_all(url: str, requests_: list[tuple[dict, bytes]], threads: int, ok) -> tuple:
    """POST each (query, body) from `threads` threads; (accepted, req/s, p50 ms, p99 ms)."""
    return post_many(
        url,
        lambda i: requests_[i][1],
        len(requests_),
        threads,
        params=lambda i: requests_[i][0],
        ok=ok,
    )


def measure_callbacks(args) -> None:
    env = server_environment(args.port, "bench-app-callback")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "createcachetable")
    ids = json.loads(
        manage(
            env, "shell", "-c", SETUP.format(corp=CORP_ID, token=TOKEN, key=KEY), capture=True
        ).splitlines()[-1]
    )
    base = f"http://127.0.0.1:{args.port}"
    server = start_server(env, base)

    def app_ok(response):
        return response.status_code == 200 and response.content == b""

    try:
        app_url = f"{base}/api/wecom_app/{ids['app']}/callback"
        seed_url = f"{base}/api/callback"
        post_all(app_url, encrypted_callbacks(args.warmup, "w"), args.threads, app_ok)
        post_all(seed_url, seed_callbacks(args.warmup, ids["seed_secret"], "w"), 8, answered_ok)
        results = [
            (
                "/api/callback (seed)",
                *post_all(
                    seed_url,
                    seed_callbacks(args.events, ids["seed_secret"], "s"),
                    args.threads,
                    answered_ok,
                ),
            ),
            (
                "app callback (encrypted)",
                *post_all(app_url, encrypted_callbacks(args.events, "a"), args.threads, app_ok),
            ),
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{args.events} callbacks per endpoint, {args.threads} client threads")
    print(f"{'endpoint':<28}{'accepted':>10}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, accepted, rate, p50, p99 in results:
        print(f"{name:<28}{accepted:>10}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}")
    print(f"ratio app ÷ /api/callback: {results[1][2] / results[0][2]:.2f}  (aim ≥ 0.60)")
    if any(r[1] != args.events for r in results):
        sys.exit("not every callback was accepted")


def measure_sending(args) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    os.environ["BOTADMIN_ALLOW_PRIVATE_URLS"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if "DATABASE_URL" not in os.environ:
        os.environ["BOTADMIN_VAR_DIR"] = str(
            Path(__file__).resolve().parent.parent / "var" / "bench-app-callback"
        )
    import django

    django.setup()
    from django.conf import settings

    from connectors.registry import connector_for
    from conversations.models import Bot, Conversation
    from devtools.fake_wecom_app import FakeWeComApp
    from messaging.delivery import deliver
    from messaging.models import Message
    from messaging.sending import accept_outbound

    n = args.sends
    with FakeWeComApp(corp_id=CORP_ID, secret="s") as api:
        settings.WECOM_API_BASE = api.base_url
        members = [f"member{RUN}{i}" for i in range(n)]
        for member in members:
            api.add_user(member)
        bot = Bot.objects.get(name="bench-app")
        Bot.objects.filter(pk=bot.pk).update(rate_limit_per_minute=100_000, paused_at=None)
        bot.refresh_from_db()
        Conversation.objects.bulk_create(
            Conversation(bot=bot, conversation_id=m, kind="user", name=m) for m in members
        )
        body = {"msgtype": "text", "text": {"content": "bench: 明天上午十点开会"}}
        ids = [
            accept_outbound(bot=bot, conversation_id=m, body=body, source="api").pk for m in members
        ]
        began = time.perf_counter()
        for pk in ids:
            deliver(pk)
        engine = n / (time.perf_counter() - began)
        sent = Message.objects.filter(pk__in=ids, status="sent").count()

        connector = connector_for(bot)
        conversations = list(Conversation.objects.filter(bot=bot, conversation_id__in=members))
        began = time.perf_counter()
        for conversation in conversations:
            if connector.send("bench", conversation, body).outcome != "sent":
                sys.exit("the connector did not send")
        connector_rate = n / (time.perf_counter() - began)

        session = requests.Session()
        token = session.get(
            f"{api.base_url}/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": "s"}
        ).json()["access_token"]
        began = time.perf_counter()
        for member in members:
            session.post(
                f"{api.base_url}/cgi-bin/message/send",
                params={"access_token": token},
                json={**body, "touser": member, "agentid": 1000002},
            ).raise_for_status()
        loop = n / (time.perf_counter() - began)
    print(f"{n} sends to {n} members through the fake WeCom app API ({sent} sent)")
    print(f"  plain loop posting the same bodies:      {loop:8.1f} msgs/s")
    print(f"  the connector's send() per message:      {connector_rate:8.1f} msgs/s "
          f"(ratio {connector_rate / loop:.2f}, aim ≥ 0.50)")  # fmt: skip
    print(f"  delivery engine (deliver per message):   {engine:8.1f} msgs/s "
          f"(ratio {engine / loop:.2f}; the engine's claim/record cost, as bench/delivery.py)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8107")))
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    measure_callbacks(args)
    measure_sending(args)


if __name__ == "__main__":
    main()
