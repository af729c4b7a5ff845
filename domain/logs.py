"""Structured (JSON) logs that carry the request id of whatever is being handled."""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import itertools
import json
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO, cast

import msgspec

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# The queue's id of the job being run, on every line the job writes (as request_id is for requests).
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
# How many attributes a LogRecord sets before `extra=` adds its own (they come after, in order).
_OWN_ATTRIBUTES = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request or job id, extras.

    Every request writes a line, so it is made cheaply (issue 12, sixteenth part): the time's
    date and second are rendered once per second and the extras are read past the record's
    own attributes. What json.dumps refuses (a dict with tuple keys) is written by msgspec.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        fields = record.__dict__
        extras = {key: fields[key] for key in itertools.islice(fields, _OWN_ATTRIBUTES, None) if key not in _STANDARD}
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(record.created, record.levelname, record.name, record.getMessage(), extras, exception)

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        extras: dict[str, object],
        exception: str | None = None,
    ) -> str:
        """The line of a record made at `created` (time.time()) with these `extras`."""
        second = int(created)
        cached, stamp = self._second
        if cached != second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, stamp)
        line: dict[str, object] = {
            "time": f"{stamp}.{int((created - second) * 1000):03d}+00:00",
            "level": level.lower(),
            "logger": logger,
            "message": message,
        }
        if (rid := request_id.get()) is not None:
            line["request_id"] = rid
        if (jid := job_id.get()) is not None:
            line["job_id"] = jid
        line.update(extras)
        if exception is not None:
            line["exception"] = exception
        try:
            return _ENCODE(line)  # the lines' format, which readers grep, unchanged
        except (TypeError, ValueError):  # e.g. a dict with tuple keys: still logged, not dropped
            return msgspec.json.encode(line, enc_hook=str).decode()


# What json.dumps(line, default=str) does, without making an encoder per line.
_ENCODE = json.JSONEncoder(default=str).encode


class _QueuedLines(logging.Handler):
    """Renders the record where it is made (it needs that task's request id) and queues the line."""

    def __init__(self, lines: queue.SimpleQueue[str | None]) -> None:
        super().__init__()
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the rendered line; never waits for the stream."""
        try:
            self._lines.put(self.format(record))
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)

    def put_line(self, line: str) -> None:
        """Queue a line rendered without a record (`log_info`)."""
        self._lines.put(line)


class _Writer:
    """The thread that writes log lines, so a slow stderr (a full pipe) never stalls the event loop.

    It takes what is queued in one write, then pauses `PAUSE_SECONDS` before it waits again:
    a put while it writes or pauses wakes no one. A thread woken per line cost each API process
    a wake-up, a GIL hand-over and a write per request (13-19 % of its samples under load).
    """

    PAUSE_SECONDS = 0.05
    thread: threading.Thread | None = None
    lines: queue.SimpleQueue[str | None] | None = None

    @classmethod
    def restart(cls, stream: TextIO) -> logging.Handler:
        cls.stop()
        lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        cls.lines = lines
        cls.thread = threading.Thread(target=cls._write, args=(lines, stream), name="log-writer", daemon=True)
        cls.thread.start()
        return _QueuedLines(lines)

    @classmethod
    def _write(cls, lines: queue.SimpleQueue[str | None], stream: TextIO) -> None:
        while True:
            batch = [lines.get()]
            with contextlib.suppress(queue.Empty):
                while batch[-1] is not None:
                    batch.append(lines.get_nowait())
            stopping = batch[-1] is None
            text = "".join(f"{line}\n" for line in batch if line is not None)
            if text:
                with contextlib.suppress(Exception):  # a closed stderr must not end the thread early
                    stream.write(text)
                    stream.flush()
            if stopping:
                return
            time.sleep(cls.PAUSE_SECONDS)

    @classmethod
    def stop(cls) -> None:
        """Write what is queued and end the thread."""
        if cls.thread is not None and cls.lines is not None:
            cls.lines.put(None)
            cls.thread.join()
        cls.thread = None
        cls.lines = None


atexit.register(_Writer.stop)


def log_info(logger: logging.Logger, message: str, fields: dict[str, object]) -> None:
    """`logger.info(message, extra=fields)`: rendered and queued directly when that is all logging would do.

    Every request logs a line; logging's record, caller lookup, handler lock and handler chain
    cost about 2.5 % of an order change's samples (issue 12, thirty-third part) for a line the
    formatter renders from four values. Wherever the configuration differs from `configure`'s
    (a test's capturing handler, a filter, a level above INFO), the line goes through logging.
    """
    handler = _sole_handler(logger)
    if handler is None:
        logger.info(message, extra=fields)
        return
    formatter = cast("JsonFormatter", handler.formatter)
    handler.put_line(formatter.line(time.time(), "INFO", logger.name, message, fields))


def _sole_handler(logger: logging.Logger) -> _QueuedLines | None:
    """The one handler an INFO record of `logger` would reach, when it is `configure`'s and nothing filters."""
    if logger.disabled or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found.extend(current.handlers)
        current = current.parent if current.propagate else None
    if len(found) != 1:
        return None
    handler = found[0]
    if (
        not isinstance(handler, _QueuedLines)
        or handler.filters
        or handler.level > logging.INFO
        or not isinstance(handler.formatter, JsonFormatter)
    ):
        return None
    return handler


def configure(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines, written by a thread of their own.

    The line is rendered where the record is made (it needs that task's request id); only
    the write is handed over.
    """
    handler = _Writer.restart(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):  # our own request log replaces it
        logging.getLogger(noisy).disabled = True
