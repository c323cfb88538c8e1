"""`/v1/status` encoding: the same JSON as encoding the whole document, each unchanged
channel's bytes reused, and never a secret (the redactor still sees every channel)."""

from __future__ import annotations

import copy
import json
from typing import Any

from fake_control_plane import FakePlane

from daemon.api.status_encoding import StatusEncoder, encode_json
from daemon.control import FULL
from daemon.logs import register_secret


def _document() -> dict[str, Any]:
    return FakePlane().status_now(FULL)


def test_the_answer_is_the_whole_document_encoded() -> None:
    document = _document()
    assert json.loads(StatusEncoder().encode(document)) == json.loads(encode_json(document))


def test_an_unchanged_channel_is_not_encoded_again_and_a_changed_one_is() -> None:
    encoder = StatusEncoder()
    first = _document()
    encoder.encode(first)
    assert encoder.encoded == 2
    again = copy.deepcopy(first)  # equal values, other objects: what the next request builds
    again["now"] += 5
    assert json.loads(encoder.encode(again))["now"] == first["now"] + 5
    assert encoder.encoded == 2
    changed = copy.deepcopy(first)
    changed["channels"][1]["decision"]["reason"] = "a new reason"
    body = json.loads(encoder.encode(changed))
    assert encoder.encoded == 3
    assert body["channels"][1]["decision"]["reason"] == "a new reason"
    assert body["channels"][0] == json.loads(encode_json(first["channels"][0]))


def test_a_secret_registered_later_is_redacted_in_a_remembered_channel() -> None:
    secret = "sk-status-encoding-7f3a9c2e51"
    encoder = StatusEncoder()
    document = _document()
    document["channels"][0]["decision"]["reason"] = f"pasted {secret} by mistake"
    assert secret in encoder.encode(document).decode()
    register_secret(secret)
    answer = encoder.encode(copy.deepcopy(document)).decode()
    assert secret not in answer
    assert "pasted *** by mistake" in answer


def test_an_empty_selection_is_valid_json() -> None:
    document = {**_document(), "channels": []}
    assert json.loads(StatusEncoder().encode(document))["channels"] == []


def test_a_full_answer_of_many_channels_is_not_remembered() -> None:
    """A thousand channels in full would keep their objects alive for a rare answer."""
    document = _document()
    many = [{**document["channels"][0], "channel": f"tenant{i:03d}/email"} for i in range(60)]
    encoder = StatusEncoder()
    for _ in range(2):
        body = json.loads(encoder.encode({**document, "channels": many}))
    assert len(body["channels"]) == 60
    assert encoder.encoded == 120  # nothing was kept
    for _ in range(2):
        encoder.encode({**document, "channels": many[:1]})  # one channel in full: kept
    assert encoder.encoded == 121
