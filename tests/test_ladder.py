"""The reminder ladder: Russian working days, rung dates, the catch-up rule."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.roadmap.definition import ReminderPolicy
from workflow.schedule.ladder import (
    RungDate,
    RungKind,
    cc_coordinator,
    due_rung,
    is_last_rung,
    is_working_day,
    ladder,
    next_working_day,
    previous_working_day,
    upcoming,
    working_day_on_or_before,
)

POLICY = ReminderPolicy()  # the decree's roadmap uses the defaults: 14, 3, on the day, 7


def d(text: str) -> date:
    return date.fromisoformat(text)


def rows(rungs: list[RungDate]) -> list[tuple[str, str, str]]:
    """(key_part, nominal, send_on) — compact enough to assert whole ladders."""
    return [(r.key_part, r.nominal.isoformat(), r.send_on.isoformat()) for r in rungs]


# --- working days: what `holidays` 0.109 says ------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2021-02-20", True),  # Saturday worked in exchange for 22.02.2021
        ("2021-02-22", False),  # Monday, day off transferred from 20.02
        ("2021-02-23", False),  # Defender of the Fatherland Day
        ("2022-03-05", True),  # Saturday worked in exchange for 07.03.2022
        ("2022-03-06", False),  # Sunday
        ("2022-03-07", False),  # Monday, transferred day off
        ("2022-03-08", False),  # International Women's Day
        ("2022-03-09", True),
        ("2020-12-31", True),  # a working Thursday in 2020
        ("2021-01-01", False),
        ("2021-01-08", False),  # New Year holidays run 01.01-08.01
        ("2021-01-10", False),  # Sunday
        ("2021-01-11", True),
        ("2021-11-05", False),  # transferred from 02.01.2021
        ("2021-12-30", True),
        ("2021-12-31", False),  # Friday, transferred from 03.01.2021
        ("2022-01-01", False),
        ("2022-01-09", False),
        ("2022-01-10", True),
        ("2023-02-24", False),  # transferred from 01.01.2023
        ("2023-05-08", False),  # transferred from 08.01.2023
        ("2024-04-27", True),  # working Saturday
        ("2024-12-28", True),  # working Saturday
        ("2024-12-31", False),
        ("2021-08-21", False),  # an ordinary Saturday
        ("2021-08-25", True),
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert is_working_day(d(day)) is working


def test_working_day_moves() -> None:
    assert previous_working_day(d("2022-03-09")) == d("2022-03-05")
    assert previous_working_day(d("2022-01-10")) == d("2021-12-30")
    assert previous_working_day(d("2021-01-11")) == d("2020-12-31")
    assert previous_working_day(d("2021-02-24")) == d("2021-02-20")
    assert working_day_on_or_before(d("2022-03-08")) == d("2022-03-05")
    assert working_day_on_or_before(d("2022-03-09")) == d("2022-03-09")
    assert next_working_day(d("2021-12-30")) == d("2022-01-10")
    assert next_working_day(d("2022-03-04")) == d("2022-03-05")


def test_calendar_filled_safely_from_threads() -> None:
    # Years far ahead are not filled yet; many threads asking at once must all get the
    # answers of a calendar filled in one go.
    days = [date(2091, 1, 1) + timedelta(days=i) for i in range(0, 730, 3)]
    reference = holidays.country_holidays("RU", years=[2090, 2091, 2092, 2093])
    expected = [reference.is_working_day(x) for x in days]
    results: list[list[bool]] = []

    def worker() -> None:
        results.append([is_working_day.__wrapped__(x) for x in days])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 8


# --- ladder ---------------------------------------------------------------------------


def test_ladder_on_an_ordinary_wednesday() -> None:
    # 25.08.2021 (equipped, staff trained): before-3 is a Sunday and moves to Friday.
    assert rows(ladder(d("2021-08-25"), POLICY, until=d("2021-09-15"))) == [
        ("before-14", "2021-08-11", "2021-08-11"),
        ("before-3", "2021-08-22", "2021-08-20"),
        ("on_day", "2021-08-25", "2021-08-25"),
        ("overdue-7", "2021-09-01", "2021-09-01"),
        ("overdue-14", "2021-09-08", "2021-09-08"),
        ("overdue-21", "2021-09-15", "2021-09-15"),
    ]


def test_ladder_lists_before_rungs_even_when_until_is_earlier() -> None:
    assert rows(ladder(d("2021-08-25"), POLICY, until=d("2021-08-01"))) == [
        ("before-14", "2021-08-11", "2021-08-11"),
        ("before-3", "2021-08-22", "2021-08-20"),
        ("on_day", "2021-08-25", "2021-08-25"),
    ]


def test_ladder_overdue_on_a_holiday_moves_back() -> None:
    # 01.03.2021 (procurements): overdue-7 is 08.03, a holiday; sent on Friday 05.03.
    assert rows(ladder(d("2021-03-01"), POLICY, until=d("2021-03-15"))) == [
        ("before-14", "2021-02-15", "2021-02-15"),
        ("before-3", "2021-02-26", "2021-02-26"),
        ("on_day", "2021-03-01", "2021-03-01"),
        ("overdue-7", "2021-03-08", "2021-03-05"),
        ("overdue-14", "2021-03-15", "2021-03-15"),
    ]


def test_ladder_deadline_on_new_year() -> None:
    # 01.01.2022 (quarterly report for 2021-Q4). 31.12.2021 is a transferred day off, so
    # the on-day reminder goes on Thursday 30.12.2021. The term itself ends on Monday
    # 10.01.2022, the first working day after the holidays (Civil Code art. 193), and
    # the overdue rungs count from there: 17.01, 24.01, 31.01.
    assert rows(ladder(d("2022-01-01"), POLICY, until=d("2022-02-01"))) == [
        ("before-14", "2021-12-18", "2021-12-17"),
        ("before-3", "2021-12-29", "2021-12-29"),
        ("on_day", "2022-01-01", "2021-12-30"),
        ("overdue-7", "2022-01-17", "2022-01-17"),
        ("overdue-14", "2022-01-24", "2022-01-24"),
        ("overdue-21", "2022-01-31", "2022-01-31"),
    ]


def test_ladder_deadline_on_a_transferred_day_off() -> None:
    # 31.12.2021 is a Friday off; the term ends on 10.01.2022, the first working day
    # of 2022 (Civil Code art. 193), and the overdue rungs count from there.
    assert rows(ladder(d("2021-12-31"), POLICY, until=d("2022-01-25"))) == [
        ("before-14", "2021-12-17", "2021-12-17"),
        ("before-3", "2021-12-28", "2021-12-28"),
        ("on_day", "2021-12-31", "2021-12-30"),
        ("overdue-7", "2022-01-17", "2022-01-17"),
        ("overdue-14", "2022-01-24", "2022-01-24"),
    ]


def test_ladder_collapses_rungs_on_one_day_march_2022() -> None:
    # 08.03.2022: before-3 (05.03, a working Saturday) and on_day (08.03 holiday, 07.03
    # transferred day off, 06.03 Sunday) both land on 05.03; only on_day stays.
    # The term ends on Wednesday 09.03: overdue-7 is 16.03.
    assert rows(ladder(d("2022-03-08"), POLICY, until=d("2022-03-16"))) == [
        ("before-14", "2022-02-22", "2022-02-22"),
        ("on_day", "2022-03-08", "2022-03-05"),
        ("overdue-7", "2022-03-16", "2022-03-16"),
    ]


def test_ladder_deadline_on_transferred_day_off_2022_03_07() -> None:
    # 07.03 and 08.03 are off: the term ends on 09.03, overdue-7 is 16.03.
    assert rows(ladder(d("2022-03-07"), POLICY, until=d("2022-03-16"))) == [
        ("before-14", "2022-02-21", "2022-02-21"),
        ("before-3", "2022-03-04", "2022-03-04"),
        ("on_day", "2022-03-07", "2022-03-05"),
        ("overdue-7", "2022-03-16", "2022-03-16"),
    ]


def test_ladder_working_saturday_2021_02_20() -> None:
    # 06.03.2021 is a Saturday; its before-14 rung is 20.02.2021, a working Saturday.
    assert rows(ladder(d("2021-03-06"), POLICY, until=d("2021-03-06"))) == [
        ("before-14", "2021-02-20", "2021-02-20"),
        ("before-3", "2021-03-03", "2021-03-03"),
        ("on_day", "2021-03-06", "2021-03-05"),
    ]


def test_ladder_deadline_in_new_year_holidays_2021() -> None:
    # 08.01.2021: before-3 (05.01) and on_day (08.01) both go back to 31.12.2020; the
    # term ends on Monday 11.01.2021, overdue-7 is 18.01.
    assert rows(ladder(d("2021-01-08"), POLICY, until=d("2021-01-18"))) == [
        ("before-14", "2020-12-25", "2020-12-25"),
        ("on_day", "2021-01-08", "2020-12-31"),
        ("overdue-7", "2021-01-18", "2021-01-18"),
    ]


def test_ladder_follows_the_policy() -> None:
    policy = ReminderPolicy(days_before=(3, 30), on_day=False, overdue_every_days=10)
    assert rows(ladder(d("2021-10-01"), policy, until=d("2021-10-21"))) == [
        ("before-30", "2021-09-01", "2021-09-01"),
        ("before-3", "2021-09-28", "2021-09-28"),
        ("overdue-10", "2021-10-11", "2021-10-11"),
        ("overdue-20", "2021-10-21", "2021-10-21"),
    ]
    assert rows(ladder(d("2021-10-01"), ReminderPolicy(days_before=()), until=d("2021-10-01"))) == [
        ("on_day", "2021-10-01", "2021-10-01"),
    ]


def test_ladder_daily_overdue_through_new_year_collapses() -> None:
    # Daily overdue reminders after 30.12.2021: 31.12-09.01 are all off; each of those
    # rungs would go back to 30.12 (the deadline), so they all move to 10.01 and collapse
    # into the last of them.
    policy = ReminderPolicy(days_before=(), on_day=True, overdue_every_days=1, overdue_rungs=20)
    assert rows(ladder(d("2021-12-30"), policy, until=d("2022-01-11"))) == [
        ("on_day", "2021-12-30", "2021-12-30"),
        ("overdue-11", "2022-01-10", "2022-01-10"),
        ("overdue-12", "2022-01-11", "2022-01-11"),
    ]


def test_ladder_refuses_non_positive_days_before() -> None:
    with pytest.raises(ValueError, match="positive"):
        ladder(d("2021-10-01"), ReminderPolicy(days_before=(0,)), until=d("2021-10-01"))


def test_cc_coordinator_from_first_overdue() -> None:
    kinds = [
        (r.key_part, cc_coordinator(r))
        for r in ladder(d("2021-08-25"), POLICY, until=d("2021-09-01"))
    ]
    assert kinds == [
        ("before-14", False),
        ("before-3", False),
        ("on_day", False),
        ("overdue-7", True),
    ]


def test_upcoming_window() -> None:
    got = upcoming(d("2021-08-25"), POLICY, start=d("2021-08-20"), end=d("2021-09-08"))
    assert rows(got) == [
        ("before-3", "2021-08-22", "2021-08-20"),
        ("on_day", "2021-08-25", "2021-08-25"),
        ("overdue-7", "2021-09-01", "2021-09-01"),
        ("overdue-14", "2021-09-08", "2021-09-08"),
    ]
    assert upcoming(d("2021-08-25"), POLICY, start=d("2021-08-12"), end=d("2021-08-19")) == []


# --- due_rung ---------------------------------------------------------------------------


def key(deadline: str, today: str, sent: tuple[str, ...] = ()) -> str | None:
    rung = due_rung(d(deadline), POLICY, today=d(today), already_sent=sent)
    return None if rung is None else rung.key_part


def test_due_rung_walks_the_ladder() -> None:
    assert key("2021-08-25", "2021-08-10") is None
    assert key("2021-08-25", "2021-08-11") == "before-14"
    assert key("2021-08-25", "2021-08-12", ("before-14",)) is None
    # Sunday 22.08 is before-3's nominal day; it was due on Friday 20.08.
    assert key("2021-08-25", "2021-08-20", ("before-14",)) == "before-3"
    assert key("2021-08-25", "2021-08-22", ("before-14", "before-3")) is None
    assert key("2021-08-25", "2021-08-25", ("before-14", "before-3")) == "on_day"
    assert key("2021-08-25", "2021-09-01", ("before-14", "before-3", "on_day")) == "overdue-7"


def test_due_rung_after_downtime_sends_only_the_latest() -> None:
    # Down from 01.08.2021 to 08.09.2021: one letter, the 14-days-overdue one.
    rung = due_rung(d("2021-08-25"), POLICY, today=d("2021-09-08"), already_sent=())
    assert rung is not None
    assert (rung.key_part, rung.send_on, cc_coordinator(rung)) == (
        "overdue-14",
        d("2021-09-08"),
        True,
    )
    assert key("2021-08-25", "2021-09-09", ("overdue-14",)) is None
    # The latest was sent, older ones were skipped: they are stale for good.
    assert key("2021-08-25", "2021-09-08", ("overdue-14",)) is None
    assert key("2021-08-25", "2021-09-15", ("overdue-14",)) == "overdue-21"
    # Down until long after the last rung the policy allows: that last one, once.
    assert key("2021-08-25", "2021-12-01") == "overdue-28"
    assert key("2021-08-25", "2021-12-08", ("overdue-28",)) is None


def test_the_ladder_stops_after_the_policys_overdue_rungs() -> None:
    """Four weekly overdue rungs by default, then silence (the weekly summary takes over)."""
    rungs = ladder(d("2021-08-25"), POLICY, until=d("2022-08-25"))
    overdue = [r.key_part for r in rungs if r.kind is RungKind.OVERDUE]
    assert overdue == ["overdue-7", "overdue-14", "overdue-21", "overdue-28"]
    assert [is_last_rung(r, POLICY) for r in rungs][-2:] == [False, True]
    assert POLICY.silenced_after() == 28
    two = ReminderPolicy(overdue_rungs=2, overdue_every_days=10)
    assert [r.key_part for r in ladder(d("2021-08-25"), two, until=d("2022-08-25"))][-2:] == [
        "overdue-10",
        "overdue-20",
    ]
    none = ReminderPolicy(overdue_rungs=0)
    assert [r.key_part for r in ladder(d("2021-08-25"), none, until=d("2022-08-25"))] == [
        "before-14",
        "before-3",
        "on_day",
    ]
    assert (
        due_rung(d("2021-08-25"), none, today=d("2022-08-25"), already_sent=())
        == ladder(d("2021-08-25"), none, until=d("2021-08-25"))[-1]
    )


def test_due_rung_never_older_than_one_sent() -> None:
    # The clock was set back (or the policy changed): nothing is sent.
    assert key("2021-08-25", "2021-08-25", ("overdue-7",)) is None
    # A key the current policy does not produce still counts by the point it names.
    assert key("2021-08-25", "2021-09-08", ("overdue-10",)) == "overdue-14"
    assert key("2021-08-25", "2021-09-08", ("overdue-15",)) is None
    # Keys that are not rung keys are ignored.
    assert key("2021-08-25", "2021-08-11", ("manual", "before-x")) == "before-14"


def test_due_rung_on_a_weekend_catches_up() -> None:
    # The daemon first runs on Saturday 21.08.2021: before-3 (sent on Friday) goes now.
    rung = due_rung(d("2021-08-25"), POLICY, today=d("2021-08-21"), already_sent=("before-14",))
    assert rung is not None
    assert (rung.key_part, rung.send_on) == ("before-3", d("2021-08-20"))


def test_due_rung_new_year_overdue_not_before_deadline() -> None:
    assert key("2022-01-01", "2021-12-30", ("before-14", "before-3")) == "on_day"
    assert key("2022-01-01", "2022-01-10", ("before-14", "before-3", "on_day")) is None
    assert key("2022-01-01", "2022-01-16", ("before-14", "before-3", "on_day")) is None
    assert key("2022-01-01", "2022-01-17", ("before-14", "before-3", "on_day")) == "overdue-7"


# --- properties -------------------------------------------------------------------------

policies = st.builds(
    ReminderPolicy,
    days_before=st.lists(st.integers(1, 40), unique=True, max_size=3).map(tuple),
    on_day=st.booleans(),
    overdue_every_days=st.integers(1, 30),
    overdue_rungs=st.integers(0, 52),
)
deadlines = st.dates(date(2019, 1, 1), date(2027, 12, 31))


@settings(max_examples=200, deadline=None)
@given(deadline=deadlines, offset=st.integers(-60, 400), policy=policies)
def test_due_rung_property(deadline: date, offset: int, policy: ReminderPolicy) -> None:
    today = deadline + timedelta(days=offset)
    rung = due_rung(deadline, policy, today=today, already_sent=())
    if rung is None:
        return
    assert rung.send_on <= today
    assert is_working_day(rung.send_on)
    assert due_rung(deadline, policy, today=today, already_sent=(rung.key_part,)) is None
    if rung.kind is RungKind.OVERDUE:
        assert rung.send_on > deadline
    else:
        assert rung.send_on <= rung.nominal <= deadline


@settings(max_examples=200, deadline=None)
@given(deadline=deadlines, policy=policies, until=st.integers(0, 120))
def test_ladder_property(deadline: date, policy: ReminderPolicy, until: int) -> None:
    rungs = ladder(deadline, policy, until=deadline + timedelta(days=until))
    sends = [r.send_on for r in rungs]
    assert sends == sorted(set(sends))  # strictly increasing: one letter a day at most
    assert len({r.key_part for r in rungs}) == len(rungs)
    assert all(is_working_day(s) for s in sends)
    # A longer ladder extends a shorter one: the cut does not change earlier rungs.
    longer = ladder(deadline, policy, until=deadline + timedelta(days=until + 30))
    assert longer[: len(rungs)] == rungs


@settings(max_examples=100, deadline=None)
@given(
    deadline=deadlines,
    policy=policies,
    run_days=st.sets(st.integers(-50, 80), max_size=60),
)
def test_reconciler_runs_with_downtime(
    deadline: date, policy: ReminderPolicy, run_days: set[int]
) -> None:
    # Run the daemon on an arbitrary set of days: each key goes out at most once, and
    # the keys go out in ladder order.
    order = {
        r.key_part: i
        for i, r in enumerate(ladder(deadline, policy, until=deadline + timedelta(days=80)))
    }
    sent: list[str] = []
    for offset in sorted(run_days):
        rung = due_rung(
            deadline, policy, today=deadline + timedelta(days=offset), already_sent=sent
        )
        if rung is not None:
            sent.append(rung.key_part)
    positions = [order[k] for k in sent]
    assert positions == sorted(set(positions))
