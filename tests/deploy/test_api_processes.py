"""API processes each accept on a socket of their own, so the kernel spreads connections over them."""

from __future__ import annotations

import contextlib
import select
import signal
import socket

from uvicorn import Config
from uvicorn.supervisors.multiprocess import SIGNALS

from deploy.api_processes import OwnSocketPerProcess


def test_each_process_slot_has_its_own_socket_on_the_port_and_connections_reach_every_one() -> None:
    # One socket shared by every process let the first to wake accept 25-28 of wrk's 32 connections.
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
    supervisor = OwnSocketPerProcess(Config("api.app:app_from_env", host="127.0.0.1", port=port, workers=2))
    accepted = dict.fromkeys(supervisor.own_sockets, 0)
    clients: list[socket.socket] = []
    try:
        assert len(accepted) == 2
        assert {s.getsockname()[1] for s in accepted} == {port}
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        while sum(accepted.values()) < len(clients):
            ready, _, _ = select.select(list(accepted), [], [], 5)
            assert ready, f"only {sum(accepted.values())} of {len(clients)} connections arrived"
            for listening in ready:
                listening.accept()[0].close()
                accepted[listening] += 1
        # The kernel hashes each connection's addresses over the sockets: both get a share
        # (fewer than 2 of 32 on one happens about 33 times in 2^32).
        assert min(accepted.values()) >= 2, sorted(accepted.values())
    finally:
        for sock in [*clients, *supervisor.own_sockets]:
            sock.close()
        for sig, handler in handlers.items():  # the supervisor queues these signals for its loop
            signal.signal(sig, handler)
