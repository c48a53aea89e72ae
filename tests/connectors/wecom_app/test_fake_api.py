"""The fake WeCom application API behaves as the spec says (the connector's tests rely on it)."""

import pytest
import requests

from devtools.fake_wecom_app import FakeWeComApp


def _token(api: FakeWeComApp) -> str:
    answer = requests.get(
        api.base_url + "/cgi-bin/gettoken",
        params={"corpid": api.corp_id, "corpsecret": api.secret},
        timeout=5,
    ).json()
    assert answer["errcode"] == 0 and answer["expires_in"] == 7200
    return answer["access_token"]


def _post(api, path, token, body):
    return requests.post(
        f"{api.base_url}/cgi-bin/{path}", params={"access_token": token}, json=body, timeout=5
    ).json()


def test_a_wrong_secret_gets_no_token_and_an_expired_token_answers_42001():
    with FakeWeComApp() as api:
        wrong = requests.get(
            api.base_url + "/cgi-bin/gettoken",
            params={"corpid": api.corp_id, "corpsecret": "nope"},
            timeout=5,
        ).json()
        assert wrong["errcode"] == 40001
        token = _token(api)
        body = {"touser": "a", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
        api.add_user("a")
        assert _post(api, "message/send", token, body)["errcode"] == 0
        api.expire_tokens()
        assert _post(api, "message/send", token, body)["errcode"] == 42001
        assert _post(api, "message/send", "unknown", body)["errcode"] == 40014
        assert len(api.sent) == 1


def test_message_send_reports_invalid_members_and_refuses_when_none_is_valid():
    with FakeWeComApp() as api:
        api.add_user("a")
        token = _token(api)
        body = {
            "touser": "a|ghost",
            "msgtype": "text",
            "agentid": 1000002,
            "text": {"content": "x"},
        }
        answer = _post(api, "message/send", token, body)
        assert answer["errcode"] == 0 and answer["invaliduser"] == "ghost"
        answer = _post(api, "message/send", token, body | {"touser": "ghost"})
        assert answer["errcode"] == 81013
        api.all_invalid_errcode = 0
        answer = _post(api, "message/send", token, body | {"touser": "Ghost"})
        assert answer["errcode"] == 0 and answer["invaliduser"] == "ghost"
        api.unlicensed = {"a"}
        answer = _post(api, "message/send", token, body | {"touser": "a"})
        assert answer["errcode"] == 0 and answer["unlicenseduser"] == "a"


def test_an_app_reads_its_visible_range_and_may_not_list_the_corp():
    with FakeWeComApp() as api:
        api.add_department(2, "研发", parentid=1)
        api.add_department(3, "后端", parentid=2)
        api.add_user("a", "甲", department=[3])
        api.add_user("b", "乙", department=[1])
        api.visible_departments, api.visible_users = [2], ["b"]
        api.tags = {7: {"users": ["b"], "parties": [1]}}
        token = _token(api)

        def get(path, **params):
            return requests.get(
                f"{api.base_url}/cgi-bin/{path}",
                params={"access_token": token, **params},
                timeout=5,
            ).json()

        assert _post(api, "user/list_id", token, {"limit": 10000})["errcode"] == 48002
        agent = get("agent/get", agentid=api.agent_id)
        assert agent["allow_userinfos"] == {"user": [{"userid": "b"}]}
        assert agent["allow_partys"] == {"partyid": [2]} and agent["allow_tags"] == {"tagid": [7]}
        visible = get("department/simplelist")["department_id"]
        assert [d["id"] for d in visible] == [2, 3]
        assert get("user/simplelist", department_id=3)["userlist"] == [
            {"userid": "a", "name": "甲", "department": [3]}
        ]
        assert get("tag/get", tagid=7)["userlist"] == [{"userid": "b", "name": "乙"}]


def test_appchat_send_reaches_only_chats_the_app_created():
    with FakeWeComApp() as api:
        token = _token(api)
        body = {"msgtype": "text", "text": {"content": "hi"}}
        assert _post(api, "appchat/send", token, body | {"chatid": "x"})["errcode"] == 86003
        created = _post(
            api, "appchat/create", token, {"name": "n", "owner": "a", "userlist": ["a", "b"]}
        )
        answer = _post(api, "appchat/send", token, body | {"chatid": created["chatid"]})
        assert answer["errcode"] == 0


def test_appchat_create_answers_wecoms_errcodes_for_members_owner_and_chatid():
    with FakeWeComApp() as api:
        token = _token(api)
        chat = {"name": "n", "owner": "a", "userlist": ["a", "b"]}
        assert _post(api, "appchat/create", token, chat | {"userlist": ["a"]})["errcode"] == 86006
        assert _post(api, "appchat/create", token, chat | {"owner": "c"})["errcode"] == 86207
        assert _post(api, "appchat/create", token, chat | {"chatid": "x" * 33})["errcode"] == 86205
        assert _post(api, "appchat/create", token, chat | {"chatid": "a-b"})["errcode"] == 86001
        assert _post(api, "appchat/create", token, chat | {"chatid": "Ab" * 16})["errcode"] == 0
        assert _post(api, "appchat/create", token, chat | {"chatid": "Ab" * 16})["errcode"] == 86215
        assert list(api.chats) == ["Ab" * 16]


def test_app_chats_need_an_app_visible_to_the_root_department():
    with FakeWeComApp() as api:
        api.add_department(2, "研发", parentid=1)
        token = _token(api)
        members = {"name": "n", "owner": "a", "userlist": ["a", "b"]}
        created = _post(api, "appchat/create", token, members)
        assert created["errcode"] == 0

        api.visible_departments = [2]
        assert _post(api, "appchat/create", token, members)["errcode"] == 60011
        body = {"msgtype": "text", "text": {"content": "hi"}, "chatid": created["chatid"]}
        assert _post(api, "appchat/send", token, body)["errcode"] == 60011
        assert api.sent == []


def test_uploaded_media_can_be_sent_and_fetched():
    with FakeWeComApp() as api:
        token = _token(api)
        upload = requests.post(
            api.base_url + "/cgi-bin/media/upload",
            params={"access_token": token, "type": "file"},
            files={"media": ("a.txt", b"hello world")},
            timeout=5,
        ).json()
        assert upload["errcode"] == 0
        fetched = requests.get(
            api.base_url + "/cgi-bin/media/get",
            params={"access_token": token, "media_id": upload["media_id"]},
            timeout=5,
        )
        assert fetched.content == b"hello world"


JPEG = b"\xff\xd8\xff\xe0" + bytes(100)
AMR = b"#!AMR\n" + bytes(100)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(100)
MB = 1024 * 1024


def _upload(api, token, kind, content, filename="a.bin"):
    return requests.post(
        api.base_url + "/cgi-bin/media/upload",
        params={"access_token": token, "type": kind},
        files={"media": (filename, content)},
        timeout=10,
    ).json()


@pytest.mark.parametrize(
    ("kind", "content", "errcode"),
    [
        ("image", JPEG, 0),
        ("image", b"\x89PNG\r\n\x1a\n" + bytes(100), 0),
        ("image", b"GIF89a" + bytes(100), 40004),  # JPG or PNG only
        ("image", JPEG + bytes(10 * MB), 40006),  # ≤ 10 MB
        ("voice", AMR, 0),
        ("voice", b"ID3" + bytes(100), 40004),  # AMR only
        ("voice", AMR + bytes(2 * MB), 40006),  # ≤ 2 MB
        ("video", MP4, 0),
        ("video", b"RIFF\x00\x00\x00\x00AVI " + bytes(100), 40004),  # MP4 only
        ("video", MP4 + bytes(10 * MB), 40006),  # ≤ 10 MB
        ("file", bytes(20 * MB), 0),
        ("file", bytes(20 * MB + 1), 40006),  # ≤ 20 MB
        ("file", b"12345", 40006),  # more than 5 bytes
    ],
)
def test_media_upload_takes_what_the_spec_lists_for_each_type(kind, content, errcode):
    with FakeWeComApp() as api:
        answer = _upload(api, _token(api), kind, content)

        assert answer["errcode"] == errcode, answer
        assert len(api.uploads) == (errcode == 0)


def test_media_upload_needs_a_file_name_and_keeps_it():
    with FakeWeComApp() as api:
        token = _token(api)
        raw = (
            b'--zz\r\nContent-Disposition: form-data; name="media"\r\n\r\n'
            + JPEG
            + b"\r\n--zz--\r\n"
        )
        nameless = requests.post(
            api.base_url + "/cgi-bin/media/upload",
            params={"access_token": token, "type": "image"},
            data=raw,
            headers={"Content-Type": "multipart/form-data; boundary=zz"},
            timeout=5,
        ).json()
        assert nameless["errcode"] == 41006
        assert _upload(api, token, "image", JPEG, "周报 图.jpg")["errcode"] == 0
        assert api.uploads == [("image", "周报 图.jpg", JPEG)]


def test_a_media_id_is_sent_only_as_the_type_it_was_uploaded_as():
    with FakeWeComApp() as api:
        api.add_user("a")
        token = _token(api)
        media_id = _upload(api, token, "voice", AMR)["media_id"]

        def send(msgtype):
            body = {"touser": "a", "msgtype": msgtype, "agentid": 1000002}
            return _post(api, "message/send", token, body | {msgtype: {"media_id": media_id}})

        assert send("file")["errcode"] == 40007
        assert send("image")["errcode"] == 40007
        assert send("voice")["errcode"] == 0


def test_forced_errcodes_answer_once():
    with FakeWeComApp() as api:
        api.add_user("a")
        token = _token(api)
        api.answer_next("message/send", 60020)
        body = {"touser": "a", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
        first = _post(api, "message/send", token, body)
        assert first["errcode"] == 60020 and "from ip" in first["errmsg"]
        assert _post(api, "message/send", token, body)["errcode"] == 0


def _card(**fields) -> dict:
    card = {"card_type": "button_interaction", "main_title": {"title": "请假审批"}, **fields}
    return {"touser": "a", "msgtype": "template_card", "agentid": 1000002, "template_card": card}


def test_a_cards_task_id_is_the_apps_once_and_required_where_wecom_wants_one():
    """同一个应用任务id不能重复: WeCom answers 42014 for a repeated, missing or too long one."""
    with FakeWeComApp() as api:
        api.add_user("a")
        token = _token(api)
        assert _post(api, "message/send", token, _card(task_id="leave-7"))["errcode"] == 0
        repeated = _post(api, "message/send", token, _card(task_id="leave-7"))
        assert repeated["errcode"] == 42014 and "taskid has existed" in repeated["errmsg"]
        assert _post(api, "message/send", token, _card())["errcode"] == 42014
        assert _post(api, "message/send", token, _card(task_id="t" * 129))["errcode"] == 42014
        notice = {"card_type": "text_notice", "card_action": {"type": 1, "url": "https://a.b"}}
        assert _post(api, "message/send", token, _card(**notice))["errcode"] == 0
        with_menu = _card(**notice, action_menu={"desc": "d", "action_list": []})
        assert _post(api, "message/send", token, with_menu)["errcode"] == 42014
        api.task_ids.add("other-client-1")  # a card another client of the app sent
        assert (
            _post(api, "message/send", token, _card(task_id="other-client-1"))["errcode"] == 42014
        )
        assert api.task_ids == {"leave-7", "other-client-1"}
        assert len(api.sent) == 2
