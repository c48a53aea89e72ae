"""`POST /api/upload_media`: WeCom's group-robot upload, the first step of sending a file.

`?secret=…&type=file|voice`, a multipart part `media` with a file name; answered as
WeCom answers (`type`, `media_id`, `created_at` as a string of Unix seconds). The
media_id is then sent with `/api/send` (messaging/uploads.py says how).

Like /api/send, the view reads the request itself so that each problem gets WeCom's
errcode (40004 type, 40006 size, 41006 no media part) instead of one generic
validation error; the OpenAPI description comes from `openapi_extra`.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from ninja import Router, Schema
from pydantic import Field

from botadmin.api import answers, envelope, given_twice_differently, refuse_body_over
from botadmin.api_body import refuse_content_coding
from botadmin.errors import Err, errmsg_value

from . import uploads
from .ratelimit import check_send_rate

router = Router(tags=["send"])


class UploadAccepted(Schema):
    errcode: int = Field(0, examples=[0])
    errmsg: str = Field("ok", examples=["ok"])
    type: str = Field(..., description="file or voice, as uploaded.", examples=["file"])
    media_id: str = Field(
        ..., description="Send it within 3 days as file.media_id or voice.media_id."
    )
    created_at: str = Field(..., description="Unix seconds, as a string (as WeCom's).")


_OPENAPI = {
    "parameters": [
        {
            "name": "type",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "enum": list(uploads.KINDS)},
            "description": "file (at most 20 MB) or voice (AMR, at most 2 MB, 60 s for a robot).",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["media"],
                    "properties": {
                        "media": {
                            "type": "string",
                            "format": "binary",
                            "description": "The file, with its file name; more than 5 bytes.",
                        }
                    },
                }
            }
        },
    },
}


@router.post(
    "/upload_media",
    summary="Upload a file or voice to send by its media_id",
    description="WeCom group-robot compatible upload_media. See docs/api.md.",
    response=answers(UploadAccepted, 403, 413, 415, 429),
    openapi_extra=_OPENAPI,
)
def upload_media(request: HttpRequest):
    bot = request.auth
    check_send_rate(bot.pk)
    if given_twice_differently(request, "type"):
        # `type=file&type=voice`: botadmin does not pick one, as for /api/send's parameters.
        raise Err.INVALID_MEDIA_TYPE.error(
            "invalid media type: type is given twice with different values"
        )
    kind = request.GET.get("type", "")
    uploads.check_sendable(bot, kind)
    media = _media_part(request)
    uploads.check_size(bot, kind, media.size)
    upload = uploads.store_upload(bot, kind, media.name or "", media.read())
    return envelope(
        0,
        "ok",
        {
            "type": upload.kind,
            "media_id": upload.media_id,
            "created_at": str(int(upload.created_at.timestamp())),
        },
    )


def _media_part(request: HttpRequest):
    """The uploaded part `media` (with a file name), else the first part with a file name;
    raises the API error otherwise.

    WeCom documents the name `media` but takes a file part named otherwise, and
    scripts rely on it (`files={file_name: data}`, `files={"file": …}`).
    """
    if request.content_type != "multipart/form-data":
        raise Err.UNSUPPORTED_MEDIA_TYPE.error(
            "Content-Type must be multipart/form-data with a part named media"
        )
    refuse_content_coding(request)  # a compressed multipart body would read as no media
    refuse_body_over(request, settings.BOTADMIN_UPLOAD_MEDIA_MAX_BODY_BYTES)
    try:
        media = request.FILES.get("media") or next(iter(request.FILES.values()), None)
    except RequestDataTooBig:
        # A file sent without a file name is read as a form field, and Django caps those
        # (DATA_UPLOAD_MAX_MEMORY_SIZE): the same mistake as a small one, not a large body.
        media = None
    except MultiPartParserError as error:
        raise Err.INVALID_PARAMETER.error(
            f"invalid parameter: multipart body: {errmsg_value(str(error), 100)}"
        ) from None
    if media is None:
        raise Err.MEDIA_MISSING.error(
            "media data missing: send the file as a multipart part named media, with a filename"
        )
    return media
