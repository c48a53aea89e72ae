"""The admin's two-box picker (a bot's operators) speaks Chinese: the strings Django's
own zh_Hans catalogue lacks come from locale/zh_Hans/LC_MESSAGES/djangojs.po."""

import re


def test_the_admin_javascript_catalogue_has_the_pickers_missing_strings(client, superuser):
    client.force_login(superuser)
    client.cookies["django_language"] = "zh-hans"

    javascript = client.get("/admin/jsi18n/").content.decode()
    catalogue = re.sub(r"\\u([0-9a-fA-F]{4})", lambda escape: chr(int(escape[1], 16)), javascript)

    for words in ("全选%s", "全部删除%s", "选择选中的%s", "删除选中的%s", "（点击清除）"):
        assert words in catalogue
    assert "可用 %s" in catalogue  # Django's own entries are still there
