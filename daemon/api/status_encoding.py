"""`/v1/status` as bytes, one channel at a time, remembering each channel's encoding.

Redacting and encoding a thousand channels was most of the answer's time (issue 11), and
most channels do not change between two requests. A channel's bytes are reused when its
JSON equals the JSON they were made from (compared as values: never stale) and no secret
was registered since (a new secret may need redacting in the same text). The result is
the JSON `json.dumps(scrub(document))` would give, with `channels` last. A document must
not be changed once encoded (the service builds a new one per request).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from daemon.control import JSON
from daemon.logs import scrub, secrets_version

MAX_REMEMBERED = 20_000
"""Channels remembered; beyond this the memory starts over (a reload that renamed every
channel, many times over)."""
FULL_REMEMBERED_UP_TO = 50
"""A full answer's channels are remembered only when it holds this many or fewer (one
channel, the status page's cards): a thousand channels in full would keep ~25 MB of
objects alive for an answer that is rare and changes with every probe."""


def encode_json(value: Any) -> bytes:
    """The API's encoding: every secret redacted, non-finite numbers as text, UTF-8 (a lone
    surrogate replaced, never a 500)."""
    text = json.dumps(scrub(value), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "replace")


class StatusEncoder:
    """Encodes status documents; safe to call from several worker threads at once."""

    def __init__(self) -> None:
        self._remembered: dict[tuple[str, str], tuple[object, JSON, bytes]] = {}
        self._lock = threading.Lock()
        self.encoded = 0
        """Channels encoded anew so far (the rest were remembered): for tests and benches."""

    def encode(self, document: JSON) -> bytes:
        head = {k: v for k, v in document.items() if k != "channels"}
        detail = str(document.get("detail"))
        version = secrets_version()
        channels = document["channels"]
        keep = detail != "full" or len(channels) <= FULL_REMEMBERED_UP_TO
        parts = [self._channel(channel, detail, version, keep=keep) for channel in channels]
        opening = encode_json(head)[:-1] + (b',"channels":[' if head else b'"channels":[')
        return b"".join([opening, b",".join(parts), b"]}"])

    def _channel(self, channel: JSON, detail: str, version: object, *, keep: bool) -> bytes:
        key = (detail, str(channel.get("channel")))
        known = self._remembered.get(key)
        if known is not None and known[0] is version and known[1] == channel:
            return known[2]
        encoded = encode_json(channel)
        with self._lock:
            self.encoded += 1
            if keep:
                if len(self._remembered) >= MAX_REMEMBERED:
                    self._remembered.clear()
                self._remembered[key] = (version, channel, encoded)
        return encoded
