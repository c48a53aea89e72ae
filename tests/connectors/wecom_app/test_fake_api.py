"""The fake WeCom application API behaves as the spec says (the connector's tests rely on it)."""

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


def test_user_list_id_pages_with_its_cursor():
    with FakeWeComApp() as api:
        for name in "abcde":
            api.add_user(name)
        token = _token(api)
        seen, cursor = [], ""
        while True:
            answer = _post(api, "user/list_id", token, {"cursor": cursor, "limit": 10000})
            seen += [u["userid"] for u in answer["dept_user"]]
            cursor = answer.get("next_cursor")
            if not cursor:
                break
        assert seen == list("abcde")


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


def test_forced_errcodes_answer_once():
    with FakeWeComApp() as api:
        api.add_user("a")
        token = _token(api)
        api.answer_next("message/send", 60020)
        body = {"touser": "a", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
        first = _post(api, "message/send", token, body)
        assert first["errcode"] == 60020 and "from ip" in first["errmsg"]
        assert _post(api, "message/send", token, body)["errcode"] == 0
