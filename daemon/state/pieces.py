"""Each channel's history as state.json holds it, encoded and validated once and kept until
the history changes, so that a write of state.json joins kept pieces instead of encoding
and validating every channel's history again (~13 ms per write at 1,000 channels, and at
start-up every channel writes its first sight of its primary).

A piece depends on the history, the channel's retention and the secret redactor; it is
made again when any of them changes (a secret registered drops every piece).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from daemon.logs import secrets_version
from daemon.model import ChannelHistory, ChannelKey
from daemon.state.codec import (
    Scrub,
    StateDecodeError,
    clean_text,
    encode_history,
    history_of,
    validate,
)
from daemon.state.schema import HistoryDoc

Prune = Callable[[ChannelKey, ChannelHistory], ChannelHistory]


@dataclass(frozen=True, slots=True)
class Piece:
    """One channel's history: as given, as written (key and JSON object) and as read back."""

    given: ChannelHistory
    keep: float | None
    key: str
    encoded: dict[str, Any]
    doc: HistoryDoc
    stored: ChannelHistory


class HistoryPieces:
    """The pieces of the histories last written, by channel (the store's lock guards it)."""

    def __init__(self, scrub: Scrub) -> None:
        self._scrub = scrub
        self._pieces: dict[ChannelKey, Piece] = {}
        self._secrets: object = secrets_version()

    def piece(
        self, channel: ChannelKey, history: ChannelHistory, *, keep: float | None, prune: Prune
    ) -> Piece | None:
        """The channel's piece (kept, or made now); None when the history does not fit the
        schema (the caller then encodes the whole document to say why)."""
        secrets = secrets_version()
        if secrets is not self._secrets:
            self._pieces.clear()
            self._secrets = secrets
        kept = self._pieces.get(channel)
        if (
            kept is not None
            and kept.keep == keep
            and (kept.stored is history or kept.given is history or kept.given == history)
        ):
            return kept
        encoded = encode_history(prune(channel, history), self._scrub)
        try:
            doc = validate(HistoryDoc, encoded)
        except StateDecodeError:
            return None
        made = Piece(
            given=history,
            keep=keep,
            key=clean_text(channel, self._scrub),
            encoded=encoded,
            doc=doc,
            stored=history_of(doc),
        )
        self._pieces[channel] = made
        return made

    def keep_only(self, channels: Collection[ChannelKey]) -> None:
        """Forget the pieces of channels whose history is no longer kept."""
        for channel in [c for c in self._pieces if c not in channels]:
            del self._pieces[channel]
