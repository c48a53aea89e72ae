"""The shapes of an outbound message body, as pydantic models.

These models are both what `messaging.validation` validates with and what
`/api/openapi.json` describes, so the documentation cannot drift from the
code. They check types and required fields only; limits that depend on the
bot's connector (bytes, supported msgtypes, mentions-only text) are checked
in `messaging.validation`, where the connector is known.

Unknown fields are ignored everywhere: tools that post to a WeCom robot URL
send extras (Gitea puts an empty `text` object beside its `markdown`).
Types are strict: `"content": 1` is refused rather than turned into `"1"`.
"""

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from connectors.base import ALL_MSGTYPES

from .card_parts import NOT_BLANK as _NOT_BLANK
from .card_parts import OPENS, opened_by_type, part_schemas

# WeCom's robot does not document a URL limit; 2 KB is what every browser and
# proxy handles.
MAX_URL_BYTES = 2048


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


Url = Annotated[str, Field(description=f"http(s) URL, at most {MAX_URL_BYTES} bytes")]
# Where a click goes: WeCom's robot also opens a host written without a scheme
# (its documentation's news example links to "www.qq.com"); see botadmin/links.py.
LinkUrl = Annotated[
    str,
    Field(
        description="http(s) URL, or a host name with an optional path (`www.qq.com/page`), "
        f"at most {MAX_URL_BYTES} bytes; the WeCom group robot gets it as written, other "
        "connectors `http://` + it"
    ),
]


def _none_if_empty(value):
    return None if value == "" else value


# An optional picture's URL: tools send "" for none (WeCom takes it so), stored as absent.
PictureUrl = Annotated[Url | None, BeforeValidator(_none_if_empty)]


class Text(_Part):
    content: str = Field(
        "",
        description="The text. May be empty when `mentioned_list` or "
        "`mentioned_mobile_list` is given (a mentions-only message).",
    )
    mentioned_list: list[str] | None = Field(None, description='userids to mention, or `"@all"`')
    mentioned_mobile_list: list[str] | None = Field(
        None, description='mobile numbers to mention, or `"@all"`'
    )


class Markdown(_Part):
    content: str = Field("", description="WeCom markdown (font colours, `<@userid>`).")


class MarkdownV2(_Part):
    content: str = Field("", description="WeCom markdown v2 (tables, lists, code).")


class Link(_Part):
    title: str
    url: LinkUrl
    image_url: PictureUrl = None
    desc: str | None = None


class Image(_Part):
    url: Url | None = Field(
        None, description="Where the image can be downloaded (the seed's form)."
    )
    base64: str | None = Field(None, description="The image bytes, base64 (WeCom's form).")
    md5: str | None = Field(None, description="md5 of the raw image bytes; required with `base64`.")


class MiniProgram(_Part):
    # Inbound miniprogram messages carry `page_path`; WeCom's own APIs say
    # `pagepath`. Both are accepted; the stored body says `page_path`.
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)

    appid: str
    title: str
    page_path: str = Field(
        validation_alias=AliasChoices("page_path", "pagepath"),
        description="Also accepted as `pagepath`.",
    )
    appname: str | None = None
    appicon: Url | None = None
    thumb_url: Url | None = None


MEDIA_ID_DESCRIPTION = (
    "The media_id of this bot's upload (POST /api/upload_media) of this type, within 3 days."
)


class File(_Part):
    media_id: str | None = Field(None, description=MEDIA_ID_DESCRIPTION)
    url: Url | None = Field(None, description="Where the file can be downloaded.")
    base64: str | None = Field(None, description="The file's bytes, base64.")
    md5: str | None = Field(None, description="md5 of the raw bytes; required with `base64`.")
    name: str | None = Field(
        None, description="The file name recipients see (by default the last part of `url`)."
    )


class Voice(_Part):
    media_id: str | None = Field(None, description=MEDIA_ID_DESCRIPTION)
    url: Url | None = Field(None, description="Where the AMR voice can be downloaded.")
    base64: str | None = Field(None, description="The AMR bytes (`#!AMR\\n`…), base64.")
    md5: str | None = Field(None, description="md5 of the raw bytes; required with `base64`.")


class Article(_Part):
    title: str
    url: LinkUrl
    description: str | None = None
    picurl: PictureUrl = None


class News(_Part):
    articles: list[Article] = Field(min_length=1, max_length=8)


# What a click on the card opens: WeCom refuses these cards without it (card_action).
NOTICE_CARDS = ("text_notice", "news_notice")
# Cards whose clicks come back to the bot by callback, with their task_id.
INTERACTIVE_CARDS = ("button_interaction", "vote_interaction", "multiple_interaction")
CARD_TYPES = NOTICE_CARDS + INTERACTIVE_CARDS

# WeCom's task_id: letters, digits and "_-@", at most 128 bytes (its template card
# documentation; Tencent's AI bot SDK, `src/types/api.ts` TemplateCard.task_id). Checked in
# `messaging.validation` (with its own errmsg), only described here: as these characters
# are ASCII, 128 bytes are 128 characters, what JSON Schema's maxLength counts.
TASK_ID_MAX_BYTES = 128
TASK_ID_CHARACTERS = "A-Za-z0-9_@-"
# The task_id a card needs (its clicks come back with it): present and not empty.
_GIVEN_TASK_ID = {
    "required": ["task_id"],
    "properties": {"task_id": {"type": "string", "minLength": 1}},
}

# What a click on the card opens (`messaging.template_cards`): type 1 its url, 2 the mini
# program of its appid, neither blank; a notice card's must open one of them.
_CARD_ACTION = {
    "type": ["object", "null"],
    "description": "What a click on the card opens: `type` 1 its `url`, 2 the mini program "
    "of its `appid` (`pagepath` optional); 0 or none, nothing (interactive cards only).",
    **opened_by_type(OPENS),
}
_OPENING_CARD_ACTION = {
    "required": ["card_action"],
    "properties": {
        "card_action": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": [1, 2]}},
        }
    },
}


# What a notice card shows (`messaging.template_cards`): a text_notice's main_title.title
# or sub_title_text, a news_notice's card_image (its url) or image_text_area (its image_url).
_TEXT_NOTICE_WORDS = {
    "anyOf": [
        {
            "required": ["main_title"],
            "properties": {
                "main_title": {"required": ["title"], "properties": {"title": _NOT_BLANK}}
            },
        },
        {"required": ["sub_title_text"], "properties": {"sub_title_text": _NOT_BLANK}},
    ]
}
_NEWS_NOTICE_PICTURE = {
    "anyOf": [{"required": ["card_image"]}, {"required": ["image_text_area"]}],
    "properties": {
        "card_image": {"type": "object", "required": ["url"], "properties": {"url": _NOT_BLANK}},
        "image_text_area": {
            "type": "object",
            "required": ["image_url"],
            "properties": {"image_url": _NOT_BLANK},
        },
    },
}


def _describe_card(schema: dict) -> None:
    # Validation says so with 40058; the schema says it too.
    schema["properties"]["card_action"] = _CARD_ACTION
    schema["properties"].update(part_schemas())
    schema["allOf"] = [
        {"if": {"properties": {"card_type": {"const": card_type}}}, "then": shows}
        for card_type, shows in (
            ("text_notice", _TEXT_NOTICE_WORDS),
            ("news_notice", _NEWS_NOTICE_PICTURE),
        )
    ]
    schema["dependentSchemas"] = {"action_menu": _GIVEN_TASK_ID}
    schema["if"] = {"properties": {"card_type": {"enum": list(INTERACTIVE_CARDS)}}}
    schema["then"] = _GIVEN_TASK_ID
    schema["else"] = _OPENING_CARD_ACTION  # a notice card


class TemplateCard(BaseModel):
    """A WeCom template card, sent as given (WeCom documents its many fields)."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        json_schema_extra=_describe_card,
    )

    card_type: Literal[CARD_TYPES] = Field(description="text_notice, news_notice, …")
    task_id: str | None = Field(
        None,
        description=f"Letters, digits and `_-@` only, at most {TASK_ID_MAX_BYTES} bytes "
        "(40058 otherwise), unique per bot. Required, not empty, by the interactive cards "
        f"({', '.join(INTERACTIVE_CARDS)}) and by a card with an `action_menu` (40058 "
        "without it). An empty task_id on a card that needs none is left out of the card, "
        "as WeCom refuses an empty one. A group robot takes no `action_menu` (40058) and sends "
        "its cards without a task_id.",
        json_schema_extra={
            "pattern": f"^[{TASK_ID_CHARACTERS}]*$",
            "maxLength": TASK_ID_MAX_BYTES,
        },
    )


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    reply_to: str | None = Field(
        None,
        description="The msgid of an inbound message of this conversation to answer "
        "(connectors that reply, e.g. WeCom AI bots: a reply while its window is open).",
    )

    send_at: str | int | None = Field(
        None,
        description="Schedule the message: ISO 8601 (naive means the server's TIME_ZONE) "
        "or Unix seconds. Also accepted as a query parameter. Omitted or past: send now.",
    )


class TextMessage(_Message):
    msgtype: Literal["text"]
    text: Text


class MarkdownMessage(_Message):
    msgtype: Literal["markdown"]
    markdown: Markdown


class MarkdownV2Message(_Message):
    msgtype: Literal["markdown_v2"]
    markdown_v2: MarkdownV2


class LinkMessage(_Message):
    msgtype: Literal["link"]
    link: Link


class ImageMessage(_Message):
    msgtype: Literal["image"]
    image: Image


class MiniProgramMessage(_Message):
    msgtype: Literal["miniprogram"]
    miniprogram: MiniProgram


class NewsMessage(_Message):
    msgtype: Literal["news"]
    news: News


class FileMessage(_Message):
    msgtype: Literal["file"]
    file: File


class VoiceMessage(_Message):
    msgtype: Literal["voice"]
    voice: Voice


class TemplateCardMessage(_Message):
    msgtype: Literal["template_card"]
    template_card: TemplateCard


OutboundMessage = Annotated[
    TextMessage
    | MarkdownMessage
    | MarkdownV2Message
    | LinkMessage
    | ImageMessage
    | MiniProgramMessage
    | NewsMessage
    | FileMessage
    | VoiceMessage
    | TemplateCardMessage,
    Field(discriminator="msgtype"),
]
outbound_message = TypeAdapter(OutboundMessage)

# Every msgtype above; the connectors' tables are built from the same set.
MSGTYPES = ALL_MSGTYPES


def request_body_schema() -> dict:
    """The JSON schema of a send body for OpenAPI, with its definitions inlined.

    django-ninja puts only its own parameter models into
    `components/schemas`; the body here is read by hand (see messaging/api.py),
    so its schema is self-contained.
    """
    schema = outbound_message.json_schema(mode="validation")
    definitions = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items() if key != "mapping"}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


class SendAccepted(BaseModel):
    errcode: Literal[0]
    errmsg: Literal["ok"]
    msgid: str = Field(description="botadmin's id of the stored message.")
    send_at: str | None = Field(
        None,
        description="When the message is scheduled (ISO 8601, in the offset `send_at` was "
        "written in). A replay of an Idempotency-Key's request answers what its first "
        "answer said.",
    )
