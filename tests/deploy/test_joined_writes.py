"""An answer's head and body in one write (deploy/joined_writes.py): held per pass of the loop, never lost."""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn

from deploy.joined_writes import JoinedWrites, JoinedWritesProtocol


class _Recorded(asyncio.Transport):
    """A transport that only records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_the_writes_of_one_pass_reach_the_transport_as_one_write_at_its_end() -> None:
    real = _Recorded()
    joined = JoinedWrites(real, asyncio.get_running_loop())
    joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    joined.write(b"{}")
    assert real.writes == []
    assert joined.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    joined.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next"]


async def test_closing_sends_what_is_held_first_and_aborting_drops_it() -> None:
    real = _Recorded()
    joined = JoinedWrites(real, asyncio.get_running_loop())
    joined.write(b"last answer")
    joined.close()
    assert real.writes == [b"last answer"]
    assert real.closed
    await asyncio.sleep(0)  # the pass's own flush finds nothing more to send
    assert real.writes == [b"last answer"]

    dropped = _Recorded()
    aborting = JoinedWrites(dropped, asyncio.get_running_loop())
    aborting.write(b"never sent")
    aborting.abort()
    await asyncio.sleep(0)
    assert dropped.writes == []
    assert dropped.aborted


async def test_a_server_on_the_protocol_answers_requests_in_turn_on_one_connection() -> None:
    async def app(scope: dict[str, object], _: object, send: object) -> None:
        if scope["type"] != "http":
            return
        body = str(scope["path"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, http=JoinedWritesProtocol, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):  # up within 10 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answers = [await client.get(f"/call/{n}") for n in range(3)]
        assert [(a.status_code, a.text) for a in answers] == [(200, f"/call/{n}") for n in range(3)]
    finally:
        server.should_exit = True
        await serving
        sock.close()
