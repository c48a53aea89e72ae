"""Voice messages: AMR-NB bytes, the one format WeCom's uploads take for `voice`
(shared/spec/wecom.md section 1, shared/spec/wecom-app.md).

An AMR file (RFC 4867 section 5) is the magic `#!AMR\\n` followed by frames of
20 ms each; a frame's first byte names its mode, which gives its size. Counting
them gives the length a robot limits to 60 s.
"""

from __future__ import annotations

AMR_MAGIC = b"#!AMR\n"
FRAME_SECONDS = 0.02
# Bytes of a frame, header byte included, by its frame type (bits 3–6 of the header);
# as ffmpeg's AMR demuxer reads them (types 9–15: comfort noise and no data, 1 byte).
_FRAME_BYTES = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)


def is_amr(content: bytes) -> bool:
    return content.startswith(AMR_MAGIC)


def amr_seconds(content: bytes, stop_after: float | None = None) -> float:
    """The length of AMR bytes in seconds; counting stops once past `stop_after`."""
    frames, position = 0, len(AMR_MAGIC)
    most = None if stop_after is None else int(stop_after / FRAME_SECONDS) + 1
    while position < len(content) and (most is None or frames < most):
        position += _FRAME_BYTES[(content[position] >> 3) & 0x0F]
        if position <= len(content):  # a cut last frame does not play
            frames += 1
    return round(frames * FRAME_SECONDS, 2)
