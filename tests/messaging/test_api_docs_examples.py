"""Every curl example of docs/api.md, its Chinese page and the README, as a new user
pastes them against `make run`'s demo bot. Most sent to wrGroup1, which the demo agent
does not list, and were answered 7000101. Each is run as written (SECRET the demo bot's,
the ids the docs show the ones earlier examples were answered), and answers what the
docs show it answering, errcode 0 where they show nothing."""

import json
import re
import shlex
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils import timezone

from conversations import demo
from conversations.models import Bot
from devtools.processes import ROOT

PAGES = ["docs/api.md", "docs/zh-hans/api.md", "README.md"]
# An answer's fields the server makes up anew (shown as "…" or an example value).
MADE_UP = {"msgid", "media_id", "created_at"}


def curl_examples(page: str) -> list[tuple[list[str], dict | None]]:
    """Each `curl` command of a page's sh blocks, split as a shell would (its lines
    continued by a backslash or an open quote), and the answer written under it
    (`# {…}`), if any."""
    examples = []
    for block in re.findall(r"```sh\n(.*?)```", page, re.DOTALL):
        lines = [line.strip() for line in block.splitlines()]
        while lines:
            command = lines.pop(0)
            if not command.startswith("curl "):
                continue
            while command.endswith("\\") or not _closed(command):
                command = command.removesuffix("\\") + "\n" + lines.pop(0)
            answer = json.loads(lines[0][1:]) if lines and lines[0].startswith("# {") else None
            examples.append((shlex.split(command), answer))
    return examples


def _closed(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # a quote still open
        return False
    return True


def as_request(argv: list[str], filled: dict[str, str]) -> dict:
    """The Django test client's generic() arguments for a curl command line, each
    placeholder of `filled` replaced."""

    def fill(text: str) -> str:
        for placeholder, value in filled.items():
            text = text.replace(placeholder, value)
        return text

    url, method, headers, body, files = "", "GET", {}, None, {}
    args = iter(argv[1:])
    for arg in args:
        if arg == "-H":
            name, value = fill(next(args)).split(":", 1)
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            body, method = fill(next(args)), "POST"
        elif arg == "-F":
            name, file_name = next(args).split("=@", 1)
            files[name] = (file_name, b"%PDF-1.4 weekly report " * 40)
            method = "POST"
        elif arg == "-X":
            method = next(args)
        else:
            url = fill(arg)
    path = url.removeprefix("http://127.0.0.1:8000")
    if files:
        uploads = {name: SimpleUploadedFile(*file) for name, file in files.items()}
        data, content_type = encode_multipart(BOUNDARY, uploads), MULTIPART_CONTENT
    else:
        # curl -d sends a form's Content-Type unless told another.
        data = (body or "").encode()
        content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded")
    return {
        "method": method,
        "path": path,
        "data": data,
        "content_type": content_type,
        "headers": headers,
    }


@pytest.fixture
def demo_bot(db, settings, tmp_path):
    """`make run`'s demo bot, its contacts synced from its demo agent."""
    settings.VAR_DIR = tmp_path
    call_command("setup_demo", "--admin-password", "pw-demo-123", stdout=StringIO())
    agent, run = demo.start_agent_and_sync(Bot.objects.get(name="demo"), port=0)
    try:
        assert run.outcome == "succeeded"
        yield Bot.objects.get(name="demo")
    finally:
        agent.stop()


def test_every_page_has_its_curl_examples():
    assert len(curl_examples((ROOT / "docs/api.md").read_text())) >= 7
    assert len(curl_examples((ROOT / "docs/zh-hans/api.md").read_text())) == len(
        curl_examples((ROOT / "docs/api.md").read_text())
    )
    assert len(curl_examples((ROOT / "README.md").read_text())) >= 1


@pytest.mark.parametrize("page", PAGES)
def test_every_curl_example_answers_on_the_demo_bot_what_the_docs_show(client, demo_bot, page):
    filled = {"SECRET": demo_bot.secret}
    for argv, documented in curl_examples((ROOT / page).read_text()):
        if "/cancel?" in " ".join(argv):
            # Only a scheduled message can be cancelled: the one the docs cancel is one.
            filled |= {documented["msgid"]: _scheduled_message(client, demo_bot)}
        request = as_request(argv, filled)

        answer = client.generic(**request).json()

        shown = documented or {"errcode": 0}
        said = f"{page}: {' '.join(argv)[:160]} answered {answer}"
        assert {k: v for k, v in answer.items() if k in shown and k not in MADE_UP} == {
            k: v for k, v in shown.items() if k not in MADE_UP
        }, said
        if documented:
            assert answer.keys() == documented.keys(), said
            # The ids the docs show are the ones later examples use.
            ids = ("msgid", "media_id")
            filled |= {shown[k]: answer[k] for k in ids if shown.get(k, "…") != "…"}


def _scheduled_message(client, bot: Bot) -> str:
    send_at = int((timezone.now() + timedelta(hours=1)).timestamp())
    answer = client.post(
        "/api/send",
        {"msgtype": "text", "text": {"content": "hello later"}, "send_at": send_at},
        content_type="application/json",
        query_params={
            "secret": bot.secret,
            "conversation_id": demo.DEMO_GROUPS[0]["conversation_id"],
        },
    ).json()
    assert answer["errcode"] == 0, answer
    return answer["msgid"]
