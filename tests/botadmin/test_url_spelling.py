"""One URL however its case-insensitive parts are written (botadmin.url_spelling): what
endpoints' URLs are saved as and compared by."""

import pytest

from botadmin.url_spelling import normalized_url, trailing_slash_apart


@pytest.mark.parametrize(
    "given, saved",
    [
        ("HTTPS://Hooks.Example.com:443/in", "https://hooks.example.com/in"),
        ("http://Hooks.Example.com:80/In?Key=AbC#Top", "http://hooks.example.com/In?Key=AbC#Top"),
        ("https://hooks.example.com:8443/in", "https://hooks.example.com:8443/in"),
        ("http://hooks.example.com:443/in", "http://hooks.example.com:443/in"),
        (
            "https://User:PassWord@Hooks.Example.com/in",
            "https://User:PassWord@hooks.example.com/in",
        ),
        ("HTTP://[2001:DB8::1]:80/in", "http://[2001:db8::1]/in"),
        ("https://hooks.example.com", "https://hooks.example.com/"),
        ("https://hooks.example.com:/in", "https://hooks.example.com/in"),
    ],
)
def test_scheme_and_host_are_lower_case_and_a_default_port_goes(given, saved):
    assert normalized_url(given) == saved
    assert normalized_url(saved) == saved


@pytest.mark.parametrize(
    "given", ["https://hooks.example.com:99999/in", "https://[::1/in", "FTP://Hooks.Example.com/in"]
)
def test_a_url_the_checks_refuse_is_left_as_given(given):
    assert normalized_url(given) == given


@pytest.mark.parametrize(
    "url, other, apart",
    [
        ("https://h.example/in", "HTTPS://H.example:443/in/", True),
        ("https://h.example/in/", "https://h.example/in//", True),
        ("https://h.example/in?a=1", "https://h.example/in/?a=1", True),
        ("https://h.example/in", "https://h.example/in", False),
        ("https://h.example/in", "https://h.example/in//", False),
        ("https://h.example/in", "https://h.example/in/?a=1", False),
        ("https://h.example/in", "http://h.example/in/", False),
        ("https://h.example", "https://h.example/", False),  # one URL: both ask for /
    ],
)
def test_urls_apart_by_a_trailing_slash_only(url, other, apart):
    assert trailing_slash_apart(url, other) is apart
    assert trailing_slash_apart(other, url) is apart
