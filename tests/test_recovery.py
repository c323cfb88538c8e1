"""Settling actions a crashed process started: from the write-ahead record and Novu's view."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daemon.model import AuditRecord, ChannelView, Integration, Switch
from daemon.service.recovery import interrupted_actions, settle

T0 = 1_700_000_000.0


def started(
    action_id: str = "a1", *, channel: str = "email", to: str = "ses-backup"
) -> AuditRecord:
    return AuditRecord(
        id=action_id,
        at=T0,
        environment="production",
        channel=channel,
        from_="sendgrid-main",
        to=to,
        trigger="failover",
        reason="primary down",
        result="started",
    )


def view(primary: str, *, active: bool = True) -> ChannelView:
    names = ("sendgrid-main", "ses-backup")
    return ChannelView(
        "production",
        "email",
        tuple(
            Integration(
                id=f"{i:024x}",
                identifier=name,
                name=name,
                provider_id=name.split("-")[0],
                channel="email",
                environment_id="6" * 24,
                active=active or name != primary,
                primary=name == primary,
            )
            for i, name in enumerate(names)
        ),
        fetched_at=T0 + 60,
    )


def test_only_started_records_without_a_final_one_are_interrupted() -> None:
    done = started("a1")
    newest_first = [
        replace(done, result="ok"),
        done,
        started("a2", channel="sms", to="vonage-backup"),
        started("a0"),  # an older email action that never finished (a1 did)
    ]
    found = interrupted_actions(newest_first)
    assert set(found) == {"production/sms", "production/email"}
    assert found["production/sms"].id == "a2"
    assert found["production/email"].id == "a0"


def test_nothing_is_interrupted_when_every_action_finished() -> None:
    first = started("a1")
    assert interrupted_actions([replace(first, result="failed"), first]) == {}


def test_a_landed_switch_is_recorded_ok_with_its_own_trigger() -> None:
    final, switch = settle(started(), view("ses-backup"), now=T0 + 60)
    assert (final.id, final.result, final.error) == ("a1", "ok", None)
    assert final.duration == 60
    assert "settled" in final.extra
    assert switch == Switch(at=T0, from_="sendgrid-main", to="ses-backup", trigger="failover")


@pytest.mark.parametrize(
    ("primary", "active", "seen"),
    [
        pytest.param("sendgrid-main", True, "sendgrid-main", id="never-landed"),
        pytest.param("ses-backup", False, "ses-backup", id="landed-but-inactive"),
    ],
)
def test_an_action_that_did_not_land_is_recorded_failed(
    primary: str, active: bool, seen: str
) -> None:
    final, switch = settle(started(), view(primary, active=active), now=T0 + 5)
    assert final.result == "failed"
    assert final.error == f"interrupted by a restart; Novu shows {seen} as primary"
    assert switch is None
