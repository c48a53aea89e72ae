"""The members a WeCom app may message, for the contact sync (shared/spec/wecom-app.md).

An app's own secret cannot list the corp: `user/list_id` takes only the contact
sync secret (通讯录同步, WeCom's document 96067) and refuses an app's token. What
an app reads is its visible range (可见范围), which is also whom it may message:

* `agent/get`: the members named in the range, and its tags;
* `tag/get`: a tag's members (with names) and departments;
* `department/simplelist`: the departments the app sees, subdepartments included
  (`?id=` for a tag's department and its subdepartments);
* `user/simplelist?department_id=`: a department's own members, with names.

The first page holds the members named in the range or in its tags; each later
page one department, the cursor being its position in the list.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import ConnectorError, ContactPage
from .wecom_app_api import PERMISSION_ERRCODES

Get = Callable[..., dict]


class VisibleRange:
    def __init__(self, named: list[dict], departments: list[int]):
        self.named = named
        self.departments = departments

    @classmethod
    def read(cls, get: Get, agent_id: int) -> VisibleRange:
        agent = get("agent/get", params={"agentid": agent_id})
        departments = _ids(get("department/simplelist").get("department_id"))
        members: dict[str, dict] = {}
        for tagid in agent_list(agent, "allow_tags", "tagid"):
            tag = get("tag/get", params={"tagid": tagid})
            for entry in tag.get("userlist") or []:
                item = _member(entry)
                if item:
                    members.setdefault(item["conversation_id"], item)
            for party in tag.get("partylist") or []:
                departments += _ids(
                    get("department/simplelist", params={"id": party}).get("department_id")
                )
        named = [
            str(entry.get("userid") or "")
            for entry in agent_list(agent, "allow_userinfos", "user")
            if isinstance(entry, dict)
        ]
        members.update(_named_members([u for u in named if u and u not in members], get))
        return cls(list(members.values()), list(dict.fromkeys(departments)))

    def page(self, get: Get, cursor: str | None) -> ContactPage:
        if cursor is None:
            items, position = self.named, 0
        else:
            position = int(cursor)
            if position >= len(self.departments):
                return ContactPage(items=[], next_cursor=None)
            answer = get("user/simplelist", params={"department_id": self.departments[position]})
            items = [item for item in map(_member, answer.get("userlist") or []) if item]
            position += 1
        more = position < len(self.departments)
        return ContactPage(items=items, next_cursor=str(position) if more else None)


def _named_members(userids: list[str], get: Get) -> dict[str, dict]:
    """Members named in the range: their names from user/get while the app may read them."""
    members, names_readable = {}, True
    for userid in userids:
        entry: dict = {"userid": userid}
        if names_readable:
            try:
                entry = get("user/get", params={"userid": userid})
            except ConnectorError as error:
                if getattr(error, "errcode", None) not in PERMISSION_ERRCODES:
                    raise
                names_readable = False
        members[userid] = _member({**entry, "userid": userid})
    return members


def _member(entry) -> dict | None:
    """A contact item; the id is the name where WeCom gives none (privacy rules)."""
    if not isinstance(entry, dict) or not entry.get("userid"):
        return None
    userid = str(entry["userid"])
    return {
        "conversation_id": userid,
        "name": str(entry.get("name") or userid),
        "department": entry.get("department"),
    }


def agent_list(answer: dict, outer: str, inner: str) -> list:
    """agent/get's lists, e.g. allow_tags.tagid."""
    container = answer.get(outer)
    value = container.get(inner) if isinstance(container, dict) else None
    return value if isinstance(value, list) else []


def _ids(departments) -> list[int]:
    return [d["id"] for d in departments or [] if isinstance(d, dict) and "id" in d]
