"""The events' iCalendar feed (RFC 5545): its document, escaped text, folded lines and UTC times."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from domain.network.rules import CalendarEvent, render_calendar

if TYPE_CHECKING:
    from collections.abc import Iterator

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
EVENT = CalendarEvent(
    uid="event-1@coop",
    title="Bread, butter; and \\ more\nfor everyone " + "é" * 60,
    description="",
    starts_at=datetime(2026, 12, 5, 17, 0, tzinfo=UTC),
    ends_at=datetime(2026, 12, 5, 19, 0, tzinfo=UTC),
    location="Hall 2",
    url=None,
    stamp=NOW,
)


def test_the_calendar_escapes_text_and_folds_long_lines() -> None:
    text = render_calendar([EVENT], "-//coop//EN")
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-2:] == ["END:VCALENDAR", ""]
    assert "DTSTART:20261205T170000Z" in lines
    assert "LOCATION:Hall 2" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:Bread\\, butter\\; and \\\\ more\\nfor everyone " + "é" * 60 + "\r\n" in unfolded
    assert "DESCRIPTION" not in text


def test_the_whole_document_of_one_event() -> None:
    event = replace(EVENT, title="Bread", description="Bring a bag", url="https://coop.test/events/1")
    assert render_calendar([event], "-//coop//EN").split("\r\n") == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//coop//EN",
        "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        "UID:event-1@coop",
        "DTSTAMP:20261201T120030Z",
        "DTSTART:20261205T170000Z",
        "DTEND:20261205T190000Z",
        "SUMMARY:Bread",
        "DESCRIPTION:Bring a bag",
        "LOCATION:Hall 2",
        "URL:https://coop.test/events/1",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"])
def test_every_kind_of_line_end_in_a_text_is_one_escaped_new_line(end: str) -> None:
    event = replace(EVENT, description=f"Doors at 5{end}Bring a bag")
    assert "DESCRIPTION:Doors at 5\\nBring a bag\r\n" in render_calendar([event], "-//coop//EN")


def test_a_line_of_75_octets_stays_whole_and_a_continuation_holds_74_after_its_space() -> None:
    whole = render_calendar([], "p" * 68).split("\r\n")[2]
    assert whole == "PRODID:" + "p" * 68
    folded = render_calendar([], "p" * 142).split("\r\n")[2:4]
    assert folded == ["PRODID:" + "p" * 68, " " + "p" * 74]


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("server_in_tokyo")
def test_times_are_written_in_utc_whatever_the_zone_of_the_server_or_the_event() -> None:
    local = timezone(timedelta(hours=-8))
    event = replace(EVENT, starts_at=datetime(2026, 12, 5, 9, 0, tzinfo=local))
    assert "DTSTART:20261205T170000Z" in render_calendar([event], "-//coop//EN").split("\r\n")
