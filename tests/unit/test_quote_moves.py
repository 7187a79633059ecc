"""What a quote's jobs would do to the cluster's pending jobs (`offline.moves`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from factory import NOW, job
from test_solver import BOTH, checked, l4_running_for_15m

from pricewise.offline.moves import Course, moves, moves_list, moves_table


def test_a_quoted_job_that_takes_a_promised_slot_shows_the_job_it_pushes_aside() -> None:
    # w waits 15m for the L4; q, of a higher priority, would take that slot, and w the H100.
    snap = l4_running_for_15m(job("w", *BOTH, created=NOW), job("q", *BOTH, priority=10))
    alone = replace(snap, jobs=tuple(j for j in snap.jobs if j.name != "q"))
    found = moves(checked(alone).decisions, checked(snap).decisions, NOW, {"team-a/q"})
    assert [m.key for m in found] == ["team-a/w"]
    assert moves_table(found, NOW, "USD").splitlines()[1:] == [
        "Applying the files changes the plans of 1 of the cluster's pending job(s):",
        "JOB       WITHOUT THE FILES               WITH THE FILES",
        "team-a/w  l4 x1 at ~12:15 UTC, 16.00 USD  h100 x1 now, 21.33 USD",
    ]
    (row,) = moves_list(found, "USD")
    assert (row["name"], row["without"]["plannedStart"], row["with"]["plannedStart"]) == (
        "w",
        "2026-11-29T12:15:00Z",
        None,
    )
    assert (row["without"]["cost"], row["with"]["cost"]) == (16.0, 21.333333)


def test_a_quoted_job_that_leaves_the_others_as_they_were_moves_none() -> None:
    snap = l4_running_for_15m(job("w", *BOTH, created=NOW), job("q", BOTH[1], created=NOW))
    alone = replace(snap, jobs=tuple(j for j in snap.jobs if j.name != "q"))
    with_q = checked(snap)
    assert moves(checked(alone).decisions, with_q.decisions, NOW, {"team-a/q"}) == []
    assert moves_table([], NOW, "USD") == ""


def test_a_course_moves_with_its_pool_width_or_start_not_with_a_few_minutes() -> None:
    later = Course("l4", 1, NOW + timedelta(hours=1), 100, "Reserved")
    assert not later.moved(replace(later, start=later.start + timedelta(minutes=4)), NOW)
    assert later.moved(replace(later, start=later.start + timedelta(minutes=6)), NOW)
    assert later.moved(replace(later, start=None), NOW)
    assert later.moved(replace(later, workers=2), NOW)
    waits = Course(None, None, None, None, "WaitingForCapacity")
    assert later.moved(waits, NOW) and waits.moved(later, NOW)
    assert waits.moved(replace(waits, reason="QuotaExceeded"), NOW)
    assert not waits.moved(waits, NOW)
    assert waits.text(NOW, "USD") == "waits (WaitingForCapacity)"
