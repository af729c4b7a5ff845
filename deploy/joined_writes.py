"""uvicorn's httptools protocol with an answer's head and body sent in one write.

uvicorn writes an answer's head on `http.response.start` and its body on `http.response.body`,
and uvloop sends each write at once: two send calls and two packets per answer. On loopback
the kernel delivers each packet to the reader inside the sender's call, so the head's write
alone was 13 % of an API process's busy samples under an order-change load (issue 12,
twenty-eighth part). Here what the protocol writes during one pass of the event loop is
held and sent as one write at the end of that pass: the head and body of an answer produced
without waiting in between (every JSON answer) go out together. Nothing waits longer than
the current pass; closing sends what is held first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import asyncio


class JoinedWrites:
    """A transport that joins the writes of one event-loop pass into one write of the real one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold the bytes until the end of this pass of the loop."""
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:  # noqa: ANN401 - as asyncio.WriteTransport.writelines
        """As `write`, for each of them."""
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is held, in one write (unless the connection is closing already)."""
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close (the real transport still sends its own buffer first)."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what is held and close at once."""
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """The real transport's buffer and what is held."""
        return self._transport.get_write_buffer_size() + sum(len(data) for data in self._held)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - every other method is the real transport's
        return getattr(self._transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through `JoinedWrites` (`coop serve` uses it)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """As uvicorn's, with the writes joined per pass of the loop."""
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
