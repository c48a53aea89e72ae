"""What a link's url may be: an http(s) URL, or a host[/path] as WeCom's robot documents it."""

import pytest

from botadmin.links import is_link, is_web_url, web_link


@pytest.mark.parametrize(
    "url, opens",
    [
        ("www.qq.com", "http://www.qq.com"),  # WeCom's own news example
        ("qq.com/a/b?c=1&d=2#e", "http://qq.com/a/b?c=1&d=2#e"),
        ("www.qq.com:8080/x", "http://www.qq.com:8080/x"),
        ("www.qq.com?x=1", "http://www.qq.com?x=1"),
        ("10.1.2.3/wiki", "http://10.1.2.3/wiki"),
        ("例子.中国/页面", "http://例子.中国/页面"),
        ("xn--fiqs8s.cn", "http://xn--fiqs8s.cn"),
        ("https://x.com/a", "https://x.com/a"),
        ("http://x.com", "http://x.com"),
        ("http://x.com:65535/a", "http://x.com:65535/a"),
    ],
)
def test_a_web_url_or_a_host_with_an_optional_path_is_a_link(url, opens):
    assert is_link(url)
    assert web_link(url) == opens


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "mailto:a@b.com",
        "ftp://x.com/a",
        "//x.com/a",
        "/relative/path",
        "localhost",
        "localhost:8000/x",
        "not a url",
        "www.qq.com/a b",
        "www.qq.com\\@evil.com",
        "user@www.qq.com",
        "www.qq.com:99999",
        "www.qq.com:0",
        "300.1.2.3",
        "1.2",
        "-bad.com",
        "www.qq.com\x01",
        "http://",
        "https:///x",
        "http://[::1",
        "http://x.com:99999999999/a",
        "https://x.com:65536",
        "http://x.com:0/",
        "http://x.com:port/",
        "https://e .com/",
        "https://e\u3000.com/",
        "https://x.com\x01/",
        "https://x.com/a\nb",
        "https://x.com/page\r\n",
        "http://x.com/\x7f",
        " https://x.com/",
        "  http://x.com/a",
        "",
    ],
)
def test_anything_else_is_no_link(url):
    assert not is_link(url)
    assert web_link(url) == ""


def test_a_picture_url_must_be_an_http_url_even_where_a_link_may_be_bare():
    assert is_web_url("https://x.com/p.png")
    assert not is_web_url("www.qq.com/p.png")


def test_a_value_that_is_not_a_string_is_no_link():
    assert web_link(None) == "" and web_link(5) == ""
