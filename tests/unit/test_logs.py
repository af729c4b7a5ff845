"""JSON logs are written by a thread of their own: a stalled stderr never stalls the caller."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading

import pytest

from domain.logs import _Writer, configure, request_id


class StalledStream:
    """A stderr whose writes wait until the test lets them through (a full pipe)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.open.wait(10)
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def stalled():
    stream = StalledStream()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield stream
    stream.open.set()
    _Writer.stop()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_logging_returns_while_stderr_is_stalled_and_the_line_keeps_its_request_id(stalled, monkeypatch):
    # Swapped here, not in the fixture: pytest's capture swaps sys.stderr again between the phases.
    monkeypatch.setattr(sys, "stderr", stalled)
    configure("INFO")
    token = request_id.set("req-1")
    done = threading.Event()

    def log() -> None:
        logging.getLogger("coop.test").info("hello", extra={"status": 200})
        done.set()

    try:
        worker = threading.Thread(target=contextvars.copy_context().run, args=(log,), daemon=True)
        worker.start()
        assert done.wait(2), "the caller waited for stderr"
    finally:
        request_id.reset(token)
    stalled.open.set()
    _Writer.stop()  # writes what is queued
    line = json.loads("".join(stalled.lines))
    assert line["message"] == "hello"
    assert line["request_id"] == "req-1"
    assert line["status"] == 200


class CountingStream:
    """A stderr that counts its writes."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_lines_logged_together_are_written_together_in_order(stalled, monkeypatch):
    # A write per line woke the writer thread per request line (issue 12, eighth part: 13-19 % of an API
    # process's samples); lines made while the thread writes or pauses go out in one write.
    counting = CountingStream()
    monkeypatch.setattr(sys, "stderr", counting)
    configure("INFO")
    for n in range(200):
        logging.getLogger("coop.test").info("line %d", n)
    _Writer.stop()
    lines = [json.loads(text) for text in "".join(counting.writes).splitlines()]
    assert [line["message"] for line in lines] == [f"line {n}" for n in range(200)]
    assert len(counting.writes) < 20


def test_a_line_has_the_records_time_to_the_millisecond_and_its_extras_in_order() -> None:
    # The formatter renders a line per request cheaply (the second cached): the same line as before.
    from datetime import UTC, datetime

    from domain.logs import JsonFormatter

    formatter = JsonFormatter()
    record = logging.getLogger("coop.test").makeRecord(
        "coop.test", logging.INFO, __file__, 1, "hi %s", ("there",), None, extra={"b": 1, "a": {(1, 2): "odd key"}}
    )
    for created in (1_764_612_345.9996, 1_764_612_346.0421):
        record.created = created
        line = json.loads(formatter.format(record))
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert line["time"][:19] == expected[:19]
        assert line["time"] == f"{expected[:19]}.{int(created * 1000) % 1000:03d}+00:00"
        assert line["message"] == "hi there"
        assert list(line)[-2:] == ["b", "a"]
        assert line["a"] == {"(1, 2)": "odd key"}  # a key JSON has no type for is written as its str


def test_an_info_line_under_the_configured_handler_is_the_line_logging_writes_without_a_record(stalled, monkeypatch):
    # The request line skips logging's record and handler chain (issue 12, thirty-third part): the same line.
    from domain.logs import log_info

    counting = CountingStream()
    monkeypatch.setattr(sys, "stderr", counting)
    configure("INFO")
    logger = logging.getLogger("coop.test")
    fields = {"method": "PUT", "path": '/v1/orders/7"\u00e9', "status": 200, "duration_ms": 1.25}
    token = request_id.set("req-2")
    try:
        logger.info("request", extra=fields)
        with monkeypatch.context() as patched:
            patched.setattr(logging.Logger, "makeRecord", _no_record)
            log_info(logger, "request", fields)
    finally:
        request_id.reset(token)
    _Writer.stop()
    through_logging, direct = "".join(counting.writes).splitlines()
    assert direct.partition('"level"')[2] == through_logging.partition('"level"')[2]
    assert json.loads(direct)["request_id"] == "req-2"


def _no_record(*_: object, **__: object) -> logging.LogRecord:
    raise AssertionError("a record was made")


def test_an_info_line_goes_through_logging_where_another_handler_or_level_is_set(stalled, monkeypatch):
    from domain.logs import log_info

    monkeypatch.setattr(sys, "stderr", CountingStream())
    configure("INFO")
    capture = _Capture()
    records = capture.records
    logger = logging.getLogger("coop.test")
    logger.addHandler(capture)
    try:
        log_info(logger, "request", {"status": 201})
    finally:
        logger.removeHandler(capture)
    logging.getLogger().setLevel("WARNING")
    log_info(logger, "request", {"status": 202})  # below the level: nothing
    assert [r.status for r in records] == [201]  # type: ignore[attr-defined]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
