"""Sending the compose page as its script does: "Send now" and "Schedule" first post the
form with `ask=1` for the question (console/send_questions.py), then post it again with
that question answered yes (`confirmed`), which the server checks before it saves.

    response = post_confirmed(client, "/console/announcements/new/", data, follow=True)
"""


def asked_question(client, url: str, data: dict) -> str:
    """The question the page's script would put to the operator before sending `data`
    ("" when the form has errors or is not sent: a draft, a paused announcement)."""
    answer = client.post(url, {**data, "ask": "1"})
    _rewind(data)
    if not answer.headers.get("Content-Type", "").startswith("application/json"):
        return ""
    return answer.json()["question"]


def post_confirmed(client, url: str, data: dict, **kwargs):
    """Post `data` as the page sends it once its question is answered yes."""
    question = asked_question(client, url, data)
    return client.post(url, {**data, "confirmed": question}, **kwargs)


def _rewind(data: dict) -> None:
    """An uploaded file is read by each post: the next one reads it again from the start."""
    for value in data.values():
        if hasattr(value, "seek"):
            value.seek(0)
