"""The admin's two-box picker (a bot's operators) speaks Chinese: the strings Django's
own zh_Hans catalogue lacks come from locale/zh_Hans/LC_MESSAGES/djangojs.po."""


def test_the_admin_javascript_catalogue_has_the_pickers_missing_strings(client, superuser):
    client.force_login(superuser)
    client.cookies["django_language"] = "zh-hans"

    catalogue = client.get("/admin/jsi18n/").content.decode("unicode_escape")

    for words in ("全选%s", "全部删除%s", "选择选中的%s", "删除选中的%s", "（点击清除）"):
        assert words in catalogue
    assert "可用 %s" in catalogue  # Django's own entries are still there
