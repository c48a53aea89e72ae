"""WeCom markdown drawn for the console (console/markdown.py): each construct as the chat
shows it, and nothing a sender writes turns into markup of its own."""

from html.parser import HTMLParser

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from console.markdown import render
from tests.fuzzing import examples

LINK = 'target="_blank" rel="noopener noreferrer"'


def test_headings_are_six_sizes_of_bold_block_but_no_page_headings():
    html = render("# 一级\n## 二级\n###### 六级")
    assert html == (
        '<div class="md-h md-h1">一级</div>\n'
        '<div class="md-h md-h2">二级</div>\n'
        '<div class="md-h md-h6">六级</div>\n'
    )


def test_bold_links_code_and_quotes():
    html = render("**要点** [文档](https://example.com/a?b=1&c=2) `make run`\n\n> 引用的话")
    assert "<strong>要点</strong>" in html
    assert f'<a href="https://example.com/a?b=1&amp;c=2" {LINK}>文档</a>' in html
    assert "<code>make run</code>" in html
    assert "<blockquote>\n<p>引用的话</p>\n</blockquote>" in html


def test_a_line_break_in_the_content_is_a_line_break_in_the_chat():
    assert render("第一行\n第二行") == "<p>第一行<br>\n第二行</p>\n"


def test_the_three_font_colours_become_classes():
    html = render(
        '<font color="info">已完成</font> <font color="comment">备注</font> '
        "<font color='warning'>失败</font> <FONT COLOR=INFO>大写</FONT>"
    )
    assert html == (
        '<p><span class="md-info">已完成</span> <span class="md-comment">备注</span> '
        '<span class="md-warning">失败</span> <span class="md-info">大写</span></p>\n'
    )


def test_a_colour_wecom_does_not_have_shows_the_text_uncoloured():
    assert render('<font color="red">红</font>') == "<p><span>红</span></p>\n"


def test_mentions_by_id_show_the_name_where_known():
    html = render("<@zhangsan> <@lisi> 请看", names={"zhangsan": "张三"})
    assert '<span class="mention" title="zhangsan">@张三</span>' in html
    assert '<span class="mention" title="lisi">@lisi</span>' in html


def test_markdown_v2_has_tables_lists_code_blocks_and_rules_but_no_colours_or_mentions():
    html = render(
        "| 项目 | 状态 |\n|:--|--:|\n| 发版 | 完成 |\n\n- 甲\n- 乙\n\n1. 一\n\n"
        '```\n<b>x</b>\n```\n\n~~旧~~ *斜* <font color="info">色</font> <@u>\n\n---',
        "markdown_v2",
    )
    assert '<th class="md-align-left">项目</th>' in html and "<td" in html
    assert '<td class="md-align-right">完成</td>' in html and "style=" not in html
    assert "<ul>\n<li>甲</li>\n<li>乙</li>\n</ul>" in html and "<ol>" in html
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>" in html
    assert "<s>旧</s> <em>斜</em>" in html and "<hr>" in html
    assert "&lt;font color=&quot;info&quot;&gt;色&lt;/font&gt; &lt;@u&gt;" in html


def test_an_image_is_a_link_to_it_never_loaded_by_the_page():
    html = render("![发布图](https://example.com/a.png) ![](https://example.com/b.png)")
    assert "<img" not in html
    assert f'<a class="md-image" href="https://example.com/a.png" {LINK}>发布图</a>' in html
    with translation.override("zh-hans"):
        untitled = render("![](https://example.com/b.png)", "markdown_v2")
    assert f'href="https://example.com/b.png" {LINK}>图片</a>' in untitled


def test_a_content_longer_than_any_bot_sends_is_shown_as_written():
    huge = "[" * 21_000 + "**<b>**"
    assert render(huge) == f'<pre class="md-source">{"[" * 21_000}**&lt;b&gt;**</pre>'


def test_other_msgtypes_are_only_escaped():
    assert render("**<b>**", "text") == "**&lt;b&gt;**"


# ---------------------------------------------------------------- what must stay inert

ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x]( JaVaScRiPt:alert(1) )",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "![x](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x]()",
    '<font color="info" onmouseover="alert(1)" style="x">a</font>',
    '<font color="info"><script>alert(1)</script></font>',
    '<font color="info"><img src=x onerror=alert(1)></font>',
    '<fo<font color="info">nt onmouseover=alert(1)>x</font>',
    '<font color="info" title="a>b" onclick=alert(1)>y</font>',
    '<font color=" info" class="x">z</font>',
    "</font></font><font color=warning>unclosed <font color=info>twice",
    '<font color="info">**a</font>b** [c<font color="warning">d](https://e.example) e</font>',
    "<style>body{display:none}</style><iframe src=https://e.example></iframe>",
    '<svg onload=alert(1)><math><mi xlink:href="javascript:alert(1)">',
    "```html\n<script>alert(1)</script>\n```",
    '```"><script>alert(1)</script>\nx\n```',
    "<!-- <script>alert(1)</script> -->",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    '[<font color=info>x</font>](https://e.example/"onmouseover="alert(1))',
]

ALLOWED = {
    "p": set(),
    "br": set(),
    "strong": set(),
    "em": set(),
    "s": set(),
    "code": {"class"},
    "pre": set(),
    "blockquote": set(),
    "ul": set(),
    "ol": {"start"},
    "li": set(),
    "hr": set(),
    "table": set(),
    "thead": set(),
    "tbody": set(),
    "tr": set(),
    "th": {"style"},
    "td": {"style"},
    "div": {"class"},
    "span": {"class", "title"},
    "a": {"href", "target", "rel", "class"},
}
CLASSES = {"md-h", "md-info", "md-comment", "md-warning", "mention", "md-image"}
CLASSES |= {f"md-h{n}" for n in range(1, 7)}


class Structure(HTMLParser):
    """Every tag and attribute as a browser reads them, and whether they nest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.open = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("br", "hr"):
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open)
        self.open.pop()

    def handle_comment(self, data):
        raise AssertionError(f"a comment came through: {data!r}")


def assert_inert(html: str) -> None:
    parsed = Structure()
    parsed.feed(html)
    parsed.close()
    assert parsed.open == [], "every tag is closed where it was opened"
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED and set(attrs) <= ALLOWED[tag], (tag, attrs)
        if tag == "a":
            assert attrs["href"].lower().startswith(("https://", "http://")), attrs
            assert attrs["target"] == "_blank" and attrs["rel"] == "noopener noreferrer"
        if tag == "code" and "class" in attrs:  # a code block's language, as written
            assert attrs["class"].startswith("language-"), attrs
        elif "class" in attrs:
            assert set(attrs["class"].split()) <= CLASSES, attrs
        if "style" in attrs:
            assert attrs["style"] in ("text-align:left", "text-align:right", "text-align:center")


@pytest.mark.parametrize("msgtype", ["markdown", "markdown_v2"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_what_a_sender_writes_never_becomes_a_script_a_handler_or_a_link_elsewhere(attack, msgtype):
    html = render(attack, msgtype)
    assert_inert(html)
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<iframe" not in lowered


def test_the_nested_font_tricks_stay_balanced_and_keep_their_colours():
    html = render('<font color="info">**a</font>b** [c<font color="warning">d](https://e.example)')
    assert html == (
        '<p><span class="md-info"><strong>a</strong></span><strong>b</strong> '
        f'<a href="https://e.example" {LINK}>c<span class="md-warning">d</span></a></p>\n'
    )
    assert render("</font>x<font color=info>y") == (
        '<p>&lt;/font&gt;x<span class="md-info">y</span></p>\n'
    )


PIECES = [*"*_`#>-|[]()!<>/=\"' \n:~&;", "<font color=info>", '<font color="warning">']
PIECES += ["</font>", "<@u1>", "javascript:", "https://e.example/", "<script>", "onerror="]
PIECES += ["<img src=x ", "a", "字", "1."]
MARKDOWNISH = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


@hypothesis_settings(max_examples=examples(500), deadline=None)
@given(content=MARKDOWNISH, msgtype=st.sampled_from(["markdown", "markdown_v2"]))
def test_any_mix_of_markdown_and_html_comes_out_inert_and_well_nested(content, msgtype):
    assert_inert(render(content, msgtype))
