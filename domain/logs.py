"""Structured (JSON) logs that carry the request id of whatever is being handled."""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import queue
import sys
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# The queue's id of the job being run, on every line the job writes (as request_id is for requests).
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request or job id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            line["request_id"] = rid
        if (jid := job_id.get()) is not None:
            line["job_id"] = jid
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _Writer:
    """The thread that writes log lines, so a slow stderr (a full pipe) never stalls the event loop."""

    listener: QueueListener | None = None

    @classmethod
    def restart(cls, handler: logging.Handler) -> QueueHandler:
        cls.stop()
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        cls.listener = QueueListener(lines, handler)
        cls.listener.start()
        return QueueHandler(lines)

    @classmethod
    def stop(cls) -> None:
        """Write what is queued and end the thread."""
        if cls.listener is not None:
            cls.listener.stop()
            cls.listener = None


atexit.register(_Writer.stop)


def configure(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines, written by a thread of their own.

    The line is rendered where the record is made (it needs that task's request id); only
    the write is handed over.
    """
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(message)s"))
    handler = _Writer.restart(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):  # our own request log replaces it
        logging.getLogger(noisy).disabled = True
