"""WeCom markdown as the chat shows it, in safe HTML for the console.

WeCom's `markdown` has headings, bold, links, `code`, quotes, `<@userid>` mentions
and `<font color="info|comment|warning">`; `markdown_v2` adds lists, tables, code
blocks and images but has no colours and no mentions (docs: shared spec wecom.md).
Both are parsed by markdown-it-py (CommonMark) with raw HTML off, so whatever a
sender writes comes out as escaped text except for what these rules make:

* `<font …>` becomes a `<span>` whose only attribute is one of three classes, chosen
  from the colour name (nothing else of the tag is copied); an unmatched `</font>`
  stays text and an unclosed one is closed at the end of its paragraph;
* links go to http(s) URLs only, in a new tab without opener or referrer; any other
  target leaves the link's text alone;
* an image is a link to it, never loaded by the page (a sender's server would learn
  who reads the conversation, and when).
"""

import dataclasses as dc
import html as html_module
import re
from functools import cache

from django.utils.html import escape, format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

MARKDOWN_MSGTYPES = ("markdown", "markdown_v2")
# More than any connector sends (the AI bot's 20,480 bytes). Parsing is pure Python and
# some inputs cost a lot (16 KB of "[" take ~0.4 s): a longer content is shown as written.
LONGEST_DRAWN = 20_480
# WeCom's three colours, as CSS classes of the console's stylesheet.
FONT_CLASSES = {"info": "md-info", "comment": "md-comment", "warning": "md-warning"}

_FONT_OPEN = re.compile(r"<font(\s[^<>]*)?>", re.IGNORECASE)
_FONT_CLOSE = re.compile(r"</font\s*>", re.IGNORECASE)
_FONT_COLOR = re.compile(
    r"""(?:^|\s)color\s*=\s*(["']?)(info|comment|warning)\1(?=[\s/>]|$)""", re.I
)
# A `<@userid>` mention (group 1: the userid), here and in the timeline's text
# (console.templatetags.console.MENTION_RE).
MENTION_TAG = re.compile(r"<@([^<>\s@]{1,64})>")
_LINK_SCHEMES = ("http://", "https://")
_LINK_REL = "noopener noreferrer"


def _is_web_url(url: str) -> bool:
    return url.strip().lower().startswith(_LINK_SCHEMES)


def _font(state: StateInline, silent: bool) -> bool:
    # Tokens without nesting, as markdown-it's raw HTML tags: emphasis may span them.
    # `_balance_fonts` makes them well nested once the whole line is read.
    if not state.src.startswith("<", state.pos):
        return False
    if opening := _FONT_OPEN.match(state.src, state.pos, state.posMax):
        if not silent:
            color = _FONT_COLOR.search(opening.group(1) or "")
            token = state.push("font_open", "span", 0)
            token.meta["class"] = FONT_CLASSES[color.group(2).lower()] if color else ""
        state.pos = opening.end()
        return True
    if closing := _FONT_CLOSE.match(state.src, state.pos, state.posMax):
        if not silent:
            state.push("font_close", "span", 0)
        state.pos = closing.end()
        return True
    return False


def _mention(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("<@", state.pos):
        return False
    found = MENTION_TAG.match(state.src, state.pos, state.posMax)
    if not found:
        return False
    if not silent:
        state.push("mention", "span", 0).content = found.group(1)
    state.pos = found.end()
    return True


def _closing(token: Token) -> Token:
    if token.type == "font_open":
        return Token("font_close", "span", 0)
    kind = token.type.removesuffix("_open")
    return Token(f"{kind}_close" if kind != token.type else kind, token.tag, -1)


def _reopened(token: Token) -> Token:
    return dc.replace(token, attrs=dict(token.attrs), meta=dict(token.meta))


def _balanced_fonts(tokens: list[Token]) -> list[Token]:
    """The tokens of a paragraph with each font inside what it was opened in, as an
    HTML parser would have it: a `</font>` crossing a bold or a link closes and reopens
    them around it; one with nothing to close is text; an open one closes at the end."""
    balanced: list[Token] = []
    opened: list[Token] = []  # open fonts and other tags, innermost last

    def close(opener: Token, closer: Token) -> None:
        if balanced and balanced[-1] is opener:
            balanced.pop()  # nothing between: no empty element
        else:
            balanced.append(closer)

    for token in tokens:
        if token.type == "font_close" and not any(t.type == "font_open" for t in opened):
            balanced.append(Token("text", "", 0, content="</font>"))
        elif token.type == "font_close":
            crossed = []
            while opened[-1].type != "font_open":
                crossed.append(opened.pop())
                close(crossed[-1], _closing(crossed[-1]))
            font = opened.pop()
            close(font, _closing(font))
            for again in reversed(crossed):
                opened.append(_reopened(again))
                balanced.append(opened[-1])
        elif token.nesting == -1:
            fonts = []
            while opened and opened[-1].type == "font_open":
                fonts.append(opened.pop())
                close(fonts[-1], _closing(fonts[-1]))
            if opened:
                close(opened.pop(), token)
            else:
                balanced.append(token)
            for again in reversed(fonts):
                opened.append(_reopened(again))
                balanced.append(opened[-1])
        else:
            if token.type == "font_open" or token.nesting == 1:
                opened.append(token)
            balanced.append(token)
    for opener in reversed(opened):
        if opener.type == "font_open":
            close(opener, _closing(opener))
    return balanced


def _balance_fonts(state) -> None:
    for token in state.tokens:
        if token.type == "inline" and token.children:
            token.children = _balanced_fonts(token.children)


def _neutral_links(state) -> None:
    """A link markdown-it refused (`href` left empty) shows its text, not a link here."""
    for block in state.tokens:
        inside_refused = False
        for token in block.children or ():
            if token.type == "link_open" and not _is_web_url(token.attrGet("href") or ""):
                inside_refused = True
                token.type, token.tag, token.attrs = "link_refused", "span", {}
            elif token.type == "link_close" and inside_refused:
                inside_refused = False
                token.type, token.tag = "link_refused", "span"


def _render_link_open(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    token.attrSet("target", "_blank")
    token.attrSet("rel", _LINK_REL)
    return self.renderToken(tokens, idx, options, env)


def _render_image(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env).strip()
    src = token.attrGet("src") or ""
    label = alt or gettext("Image")
    if not _is_web_url(src):
        return format_html('<span class="md-image">{}</span>', label)
    return format_html(
        '<a class="md-image" href="{}" target="_blank" rel="{}">{}</a>', src, _LINK_REL, label
    )


def _render_font_open(self, tokens, idx, options, env) -> str:
    color_class = tokens[idx].meta["class"]  # one of FONT_CLASSES' values, or none
    return f'<span class="{color_class}">' if color_class else "<span>"


def _render_font_close(self, tokens, idx, options, env) -> str:
    return "</span>"


def _render_mention(self, tokens, idx, options, env) -> str:
    user_id = tokens[idx].content
    name = (env.get("names") or {}).get(user_id) or user_id
    return format_html('<span class="mention" title="{}">@{}</span>', user_id, name)


_ALIGNMENTS = {
    "text-align:left": "left",
    "text-align:center": "center",
    "text-align:right": "right",
}


def aligned_by_class(token) -> None:
    """markdown-it aligns a table column with style="text-align:…", which the pages'
    Content-Security-Policy refuses: a class of the console's stylesheet instead."""
    align = _ALIGNMENTS.get(str(token.attrs.pop("style", "")))
    if align:
        token.attrSet("class", f"md-align-{align}")


def _render_table_cell(self, tokens, idx, options, env) -> str:
    aligned_by_class(tokens[idx])
    return self.renderToken(tokens, idx, options, env)


def _render_heading_open(self, tokens, idx, options, env) -> str:
    # A heading in a message is not one of the page's: a styled block, out of the outline.
    return f'<div class="md-h md-{tokens[idx].tag}">'


def _render_heading_close(self, tokens, idx, options, env) -> str:
    return "</div>\n"


@cache
def _parser(msgtype: str) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "xhtmlOut": False})
    md.validateLink = _is_web_url  # markdown-it's own refuses javascript: but allows data:
    md.core.ruler.after("inline", "wecom_neutral_links", _neutral_links)
    if msgtype == "markdown_v2":
        md.enable(["table", "strikethrough"])
    else:
        md.inline.ruler.before("autolink", "wecom_font", _font)
        md.inline.ruler.before("autolink", "wecom_mention", _mention)
        md.core.ruler.after("wecom_neutral_links", "wecom_font_balance", _balance_fonts)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("font_open", _render_font_open)
    md.add_render_rule("font_close", _render_font_close)
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("heading_open", _render_heading_open)
    md.add_render_rule("heading_close", _render_heading_close)
    md.add_render_rule("th_open", _render_table_cell)
    md.add_render_rule("td_open", _render_table_cell)
    return md


def render(content, msgtype: str = "markdown", names: dict | None = None) -> SafeString:
    """The HTML of a markdown message's content; `names` ({userid: name}) names the
    `<@userid>` mentions it knows."""
    content = str(content or "")
    if msgtype not in MARKDOWN_MSGTYPES:
        return escape(content)
    if len(content) > LONGEST_DRAWN:
        return format_html('<pre class="md-source">{}</pre>', content)
    html = _parser(msgtype).render(content, {"names": names or {}})
    return mark_safe(html)  # markdown-it escapes all text; only the rules above add tags


def plain_text(content, msgtype: str = "markdown") -> str:
    """The words a markdown message shows, without its markup (`**`, `##`, `<font>`,
    link targets): for a one-line excerpt (search results). Other msgtypes as they are."""
    content = str(content or "")
    if msgtype not in MARKDOWN_MSGTYPES:
        return content
    shown = render(content[:LONGEST_DRAWN], msgtype)
    # Block ends become spaces, so "标题" and the next line do not run together.
    spaced = re.sub(r"(?i)<br\s*/?>|</(p|div|li|h\d|blockquote|tr|td|th|pre)>", " ", shown)
    return " ".join(html_module.unescape(strip_tags(spaced)).split())
