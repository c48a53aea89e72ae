def test_the_ui_speaks_chinese_by_default_even_to_an_english_browser(client, db):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "zh-hans"
    assert "用户名" in response.content.decode()


def test_english_when_chosen(client, db):
    response = client.post(
        "/i18n/setlang/", {"language": "en", "next": "/admin/login/"}, follow=True
    )
    assert response["Content-Language"] == "en"
    assert "Username" in response.content.decode()
    # …and back.
    response = client.post(
        "/i18n/setlang/", {"language": "zh-hans", "next": "/admin/login/"}, follow=True
    )
    assert "用户名" in response.content.decode()
