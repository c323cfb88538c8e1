"""Settling actions a crashed process started: from the write-ahead record and Novu's view."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from daemon.model import AuditRecord, ChannelHistory, ChannelView, Integration, Switch
from daemon.service.recovery import interrupted_actions, unremembered_switches
from daemon.service.settlement import SETTLE_MARGIN, OpenAction, settle

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


def open_action(timeout: float = 30.0) -> OpenAction:
    return OpenAction.of(started(), action_timeout=timeout, why="interrupted by a restart")


def test_a_landed_switch_is_settled_ok_at_once_with_its_own_trigger() -> None:
    """Seen as primary: landed, even before the deadline (no need to wait)."""
    settled = settle(open_action(), view("ses-backup"), now=T0 + 1)
    assert settled is not None
    final = settled.record
    assert (final.id, final.result, final.error) == ("a1", "ok", None)
    assert final.duration == 1
    assert final.extra["settled"] == (
        "interrupted by a restart; Novu's view shows ses-backup as the active primary"
    )
    assert settled.switch == Switch(
        at=T0, from_="sendgrid-main", to="ses-backup", trigger="failover"
    )


@pytest.mark.parametrize(
    ("primary", "active"),
    [
        pytest.param("sendgrid-main", True, id="not-yet-landed"),
        pytest.param("ses-backup", False, id="primary-but-inactive"),
    ],
)
def test_absence_is_not_conclusive_before_the_deadline_and_margin(
    primary: str, active: bool
) -> None:
    """Novu may still carry out a call it received before the action's deadline."""
    action = open_action(timeout=30.0)
    assert action.settle_after == T0 + 30.0 + SETTLE_MARGIN
    assert settle(action, view(primary, active=active), now=T0 + 30.0) is None
    assert settle(action, view(primary, active=active), now=action.settle_after - 0.001) is None


@pytest.mark.parametrize(
    ("primary", "active", "seen"),
    [
        pytest.param("sendgrid-main", True, "sendgrid-main", id="never-landed"),
        pytest.param("ses-backup", False, "ses-backup", id="landed-but-inactive"),
    ],
)
def test_an_action_that_did_not_land_by_the_deadline_is_settled_failed(
    primary: str, active: bool, seen: str
) -> None:
    action = open_action()
    settled = settle(action, view(primary, active=active), now=action.settle_after)
    assert settled is not None
    assert settled.record.result == "failed"
    assert settled.record.error == (
        f"interrupted by a restart; did not land: Novu shows {seen} as primary after the "
        "action's deadline"
    )
    assert settled.switch is None


def test_the_deadline_recorded_by_the_action_wins_over_the_current_timeout() -> None:
    record = replace(started(), extra={"deadline": repr(T0 + 2.0)})
    action = OpenAction.of(record, action_timeout=300.0, why="x")
    assert action.settle_after == T0 + 2.0 + SETTLE_MARGIN


@pytest.mark.parametrize("raw", ["nan", "inf", "1e300", "soon"])
def test_a_damaged_recorded_deadline_falls_back_to_start_plus_timeout(raw: str) -> None:
    record = replace(started(), extra={"deadline": raw})
    action = OpenAction.of(record, action_timeout=30.0, why="x")
    assert action.settle_after == T0 + 30.0 + SETTLE_MARGIN


def final(action_id: str, *, at: float, to: str = "ses-backup", **changes: Any) -> AuditRecord:
    return replace(started(action_id, to=to), **{"at": at, "result": "ok", **changes})


def test_a_finished_switch_missing_from_the_history_is_found() -> None:
    """Killed between the final audit record and the history write."""
    newest_first = [final("a2", at=T0 + 10), started("a2"), final("a1", at=T0, to="x")]
    history = ChannelHistory(
        switches=(Switch(at=T0, from_="sendgrid-main", to="x", trigger="failover"),),
        last_known_primary="x",
    )
    found = unremembered_switches(newest_first, {"production/email": history})
    assert found == {
        "production/email": Switch(
            at=T0 + 10, from_="sendgrid-main", to="ses-backup", trigger="failover"
        )
    }


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(final("a1", at=T0), id="already-remembered"),
        pytest.param(final("a1", at=T0 - 5), id="older-than-the-history"),
        pytest.param(final("a1", at=T0 + 5, dry_run=True), id="dry-run"),
        pytest.param(final("a1", at=T0 + 5, result="failed"), id="failed"),
        pytest.param(final("a1", at=T0 + 5, action="pause", to=None), id="not-a-switch"),
    ],
)
def test_nothing_is_repaired_when_the_history_has_it_or_nothing_landed(
    record: AuditRecord,
) -> None:
    history = ChannelHistory(
        switches=(Switch(at=T0, from_="sendgrid-main", to="ses-backup", trigger="failover"),),
        last_known_primary="ses-backup",
    )
    assert unremembered_switches([record], {"production/email": history}) == {}


def test_only_the_newest_switch_of_a_channel_is_considered() -> None:
    newest_first = [final("a2", at=T0 + 10), final("a1", at=T0 + 5, to="mailgun")]
    history = ChannelHistory(
        switches=(Switch(at=T0 + 10, from_="sendgrid-main", to="ses-backup", trigger="failover"),)
    )
    assert unremembered_switches(newest_first, {"production/email": history}) == {}
