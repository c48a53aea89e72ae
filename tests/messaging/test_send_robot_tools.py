"""Tools written for a WeCom robot URL, pointed at botadmin: their requests over real HTTP.

Each test sends what the named tool or script sends (body bytes, headers), read from its
source, to a live server, and checks what that tool checks in the answer.
"""

import json

import pytest
import requests

from messaging.models import Message


@pytest.fixture
def post_raw(live_server, robot_bot, robot_group):
    """POST bytes to the robot bot's send URL with `headers` (JSON by default; `{}`: no
    Content-Type at all, as requests adds none for bytes)."""

    def post(data: bytes, headers: dict | None = None) -> requests.Response:
        request = requests.Request(
            "POST",
            live_server.url + "/api/send",
            params={"secret": robot_bot.secret, "conversation_id": "robotGroup1"},
            data=data,
            headers={"Content-Type": "application/json"} if headers is None else headers,
        ).prepare()
        with requests.Session() as session:
            return session.send(request, timeout=30)

    return post


# (id, Content-Type or None for none, body bytes as the tool writes them, stored object)
TOOL_REQUESTS = [
    (
        # grafana/alerting receivers/wecom: json.Marshal of a map (keys sorted, <>& escaped)
        "grafana-markdown",
        "application/json",
        b'{"markdown":{"content":"# [FIRING:1] HighCPU (web-1)\\n**Firing**\\nValue: A=97\\n"},'
        b'"msgtype":"markdown"}',
        {"content": "# [FIRING:1] HighCPU (web-1)\n**Firing**\nValue: A=97\n"},
    ),
    (
        # grafana/alerting receivers/wecom, msg_type "text": "title\nmessage\n", no "#"
        "grafana-text",
        "application/json",
        b'{"msgtype":"text","text":{"content":"[RESOLVED] HighCPU\\nValue: A=12\\n"}}',
        {"content": "[RESOLVED] HighCPU\nValue: A=12\n"},
    ),
    (
        # go-gitea/gitea services/webhook/wechatwork.go: MarshalIndent, the unused text
        # object with null lists beside the markdown, HTML escaped as \u003c
        "gitea-push",
        "application/json",
        b'{\n  "msgtype": "markdown",\n  "text": {\n    "content": "",\n'
        b'    "mentioned_list": null,\n    "mentioned_mobile_list": null\n  },\n'
        b'  "markdown": {\n    "content": "# acme/shop:main \\u003cfont color=\\"warning\\"\\u003e'
        b"  [1 new commit]  \\u003c/font\\u003e\\r\\n\\r\\n \\u003e [3f2a9c1](https://g.example/c)"
        b' \\r\\n"\n  }\n}',
        {
            "content": '# acme/shop:main <font color="warning">  [1 new commit]  </font>'
            "\r\n\r\n > [3f2a9c1](https://g.example/c) \r\n"
        },
    ),
    (
        # jenkinsci/qy-wechat-notification-plugin BuildMentionedInfo: both lists, one empty
        "jenkins-mentions",
        "application/json; charset=UTF-8",
        b'{"text":{"mentioned_mobile_list":[],"mentioned_list":["wangwei","@all"]},'
        b'"msgtype":"text"}',
        {"content": "", "mentioned_list": ["wangwei", "@all"], "mentioned_mobile_list": []},
    ),
    (
        # feiyu563/PrometheusAlert controllers/weixin.go: json.NewEncoder adds a line break
        "prometheusalert",
        "application/json",
        b'{"msgtype":"markdown","markdown":{"content":"## [PROBLEM] node down"}}\n',
        {"content": "## [PROBLEM] node down"},
    ),
    (
        # argoproj/notifications-engine webhook service: the template's body, no header set
        "argo-cd-no-content-type",
        None,
        b'{"msgtype": "markdown", "markdown": {"content": "shop synced: Succeeded"}}',
        {"content": "shop synced: Succeeded"},
    ),
    (
        # louislam/uptime-kuma webhook "custom" body: axios posts the rendered string as
        # application/x-www-form-urlencoded
        "uptime-kuma-custom-body",
        "application/x-www-form-urlencoded",
        '{"msgtype":"text","text":{"content":"[shop] [🔴 Down] connect ECONNREFUSED"}}'.encode(),
        {"content": "[shop] [🔴 Down] connect ECONNREFUSED"},
    ),
    (
        # chf007/action-wechat-work: JSON.stringify of the inputs
        "github-action-wechat-work",
        "application/json",
        b'{"msgtype":"text","text":{"content":"deploy done","mentioned_list":["@all"],'
        b'"mentioned_mobile_list":["13800001111"]}}',
        {
            "content": "deploy done",
            "mentioned_list": ["@all"],
            "mentioned_mobile_list": ["13800001111"],
        },
    ),
]


@pytest.mark.parametrize(
    "content_type, body, stored",
    [case[1:] for case in TOOL_REQUESTS],
    ids=[case[0] for case in TOOL_REQUESTS],
)
def test_what_tools_post_to_a_robot_url_is_accepted_as_they_post_it(
    post_raw, content_type, body, stored
):
    """Each tool's request as its source writes it (cited beside each case), judged as the
    tool judges it: an HTTP 2xx (Grafana, Gitea, Argo CD, Uptime Kuma) or errcode 0."""
    response = post_raw(body, {"Content-Type": content_type} if content_type else {})

    assert response.status_code == 200, response.text
    assert response.json()["errcode"] == 0
    message = Message.objects.get(msgid=response.json()["msgid"])
    assert message.body[message.msgtype] == stored


def test_a_script_that_greps_the_answer_for_errcode_0_sees_success(post_raw):
    """Shell scripts judge the robot's answer by its bytes, as WeCom writes it
    (`{"errcode":0,"errmsg":"ok"}`, no spaces): the DingoFS test suite's notifier and a
    data-alert script posting to `$WECOM_WEBHOOK_URL` both run
    `echo "$response" | grep -q '"errcode":0'` and report a failure otherwise."""
    body = b'{"msgtype":"markdown","markdown":{"content":"**PASS** smoke"}}'

    response = post_raw(body)

    assert response.status_code == 200
    assert response.text.startswith('{"errcode":0,"errmsg":"ok",')


def test_a_body_with_raw_line_breaks_inside_its_strings_is_accepted(post_raw):
    """Shell and template tools put text into the JSON as it is: the DingoFS test suite's
    notifier writes a heredoc `"content": "${content}"` whose content spans lines (a
    markdown table), and Uptime Kuma's or Argo CD's body templates insert multi-line
    values the same way. WeCom's robot takes such bodies (danni-cool/wechatbot-webhook#208:
    the same body with real line breaks works against a WeCom group robot); strict JSON
    refuses a control character inside a string."""
    body = (
        '{\n    "msgtype": "markdown",\n    "markdown": {\n        "content": "✅ **PASS**\n\n'
        "| Tool | Status |\n|------|--------|\n| smoke\tsuite | PASS |\r\n"
        '"\n    }\n}\n'
    ).encode()

    response = post_raw(body)

    assert response.status_code == 200, response.text
    message = Message.objects.get(msgid=response.json()["msgid"])
    assert message.body["markdown"]["content"] == (
        "✅ **PASS**\n\n| Tool | Status |\n|------|--------|\n| smoke\tsuite | PASS |\r\n"
    )


def test_a_raw_nul_inside_a_string_is_still_refused(post_raw):
    response = post_raw(b'{"msgtype":"text","text":{"content":"a\x00b"}}')

    assert (response.status_code, response.json()["errcode"]) == (400, 40058)
    assert not Message.objects.exists()


def test_a_news_article_with_an_empty_picurl_is_sent_without_a_picture(post_raw):
    """A GitHub-Trending pusher posts its news with `"picurl": ""` when it has no picture
    (`requests.post(webhook, data=json.dumps(payload))`); WeCom's picurl is optional and
    an empty one means none."""
    payload = {
        "msgtype": "news",
        "news": {
            "articles": [
                {
                    "title": "GitHub Trending 更新",
                    "description": "1. acme/rocket ★ 1.2k",
                    "url": "https://github.com/trending",
                    "picurl": "",
                }
            ]
        },
    }

    response = post_raw(json.dumps(payload).encode())

    assert response.status_code == 200, response.text
    message = Message.objects.get(msgid=response.json()["msgid"])
    assert message.body["news"]["articles"] == [
        {
            "title": "GitHub Trending 更新",
            "description": "1. acme/rocket ★ 1.2k",
            "url": "https://github.com/trending",
        }
    ]


def test_a_link_with_an_empty_image_url_is_stored_without_one(post_raw):
    """The seed's link, which a robot bot sends as a one-article news: "" is no picture there too."""
    body = {"msgtype": "link", "link": {"title": "标题", "url": "https://x.com", "image_url": ""}}

    response = post_raw(json.dumps(body).encode())

    assert response.status_code == 200, response.text
    message = Message.objects.get(msgid=response.json()["msgid"])
    assert message.body["link"] == {"title": "标题", "url": "https://x.com"}


def test_czscs_push_file_flow_works_with_the_send_urls_upload_twin(
    live_server, robot_bot, robot_group
):
    """waditu/czsc's `push_file`: upload with `files={file_name: bytes}` to the robot's
    upload_media URL (the send URL with `send` → `upload_media`, plus `&type=file`), then
    send `{"msgtype": "file", "file": {"media_id": mid}}`; both answers must say
    `errmsg == 'ok'`."""
    send_url = f"{live_server.url}/api/send?secret={robot_bot.secret}&conversation_id=robotGroup1"

    r1 = requests.post(
        send_url.replace("send", "upload_media") + "&type=file",
        files={"report.xlsx": b"PK\x03\x04 weekly figures"},
        timeout=30,
    )
    mid = r1.json()["media_id"]
    r2 = requests.post(send_url, json={"msgtype": "file", "file": {"media_id": mid}}, timeout=30)

    assert r1.json()["errmsg"] == "ok" and r2.json()["errmsg"] == "ok", (r1.text, r2.text)
    message = Message.objects.get(msgid=r2.json()["msgid"])
    assert message.body["file"]["name"] == "report.xlsx"


def test_a_notify_script_that_builds_wecoms_url_from_an_origin_and_a_key_reaches_botadmin(
    live_server, robot_bot, robot_group
):
    """青龙 (whyour/qinglong)'s notify scripts and their many copies post to
    `f"{QYWX_ORIGIN}/cgi-bin/webhook/send?key={QYWX_KEY}"`. With QYWX_ORIGIN set as
    docs/api.md says, what they append is the value of a parameter botadmin ignores."""
    qywx_origin = (
        f"{live_server.url}/api/send?secret={robot_bot.secret}&conversation_id=robotGroup1&wecom="
    )
    qywx_key = "botadmin"  # must only be non-empty
    title, content = "签到结果", "账号 1：成功"

    response = requests.post(
        f"{qywx_origin}/cgi-bin/webhook/send?key={qywx_key}",
        data=json.dumps({"msgtype": "text", "text": {"content": f"{title}\n\n{content}"}}),
        headers={"Content-Type": "application/json;charset=utf-8"},
        timeout=30,
    ).json()

    assert response["errcode"] == 0, response
    message = Message.objects.get(msgid=response["msgid"])
    assert message.body["text"]["content"] == "签到结果\n\n账号 1：成功"
