"""Long messages in the timeline's HTML: the whole text is in the page (without the
page's script nothing is collapsed), marked for collapsing, with a "Show all" button the
script shows (tests/console/test_browser_long_messages.py has it in a browser)."""

import re

import pytest
from django.urls import reverse


@pytest.fixture
def history_url(bot, group):
    return reverse("console:history", args=[bot.pk, group.pk])


def test_a_long_message_is_all_in_the_page_with_a_hidden_show_all_button(
    operator_client, group, history_url, make_message
):
    text = "很长的消息。" * 300  # 1,800 characters
    long_text = make_message(group, text=text)
    long_markdown = make_message(group, msgtype="markdown", text="**报告**\n" * 40)
    short = make_message(group, text="收到")

    html = operator_client.get(history_url).content.decode()

    assert text in html
    for message, kind in ((long_text, "text"), (long_markdown, "markdown")):
        assert f'<div class="{kind}" id="m{message.pk}-content" data-collapsible>' in html
        toggle = re.search(rf'<button [^>]*aria-controls="m{message.pk}-content"[^>]*>', html)[0]
        assert " hidden" in toggle and 'data-more="展开全文"' in toggle
    assert f'aria-controls="m{short.pk}-content"' not in html
