"""Several API processes, each accepting on a listening socket of its own (SO_REUSEPORT).

uvicorn's own `--workers` binds one socket in the parent and every process accepts from it.
Under load the process that wakes first accepts whatever is queued (uvloop accepts in a
loop), so a client that opens its keep-alive connections at once lands unevenly: 32 wrk
connections were spread 25/7 and 28/4 over two processes (issue 12, sixteenth part), and the
busier process's queue was the order change's p99. With a socket per process bound with
SO_REUSEPORT the kernel spreads new connections over the processes by their addresses.

The supervision is uvicorn's (`Multiprocess`: health checks, a dead process replaced,
SIGHUP restarts, SIGTTIN/SIGTTOU); only which socket a process gets differs: slot i always
gets socket i, so a replacement serves the connections the kernel keeps sending there.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

if TYPE_CHECKING:
    from uvicorn import Config


def reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class OwnSocketPerProcess(Multiprocess):
    """uvicorn's supervisor, each process with its own SO_REUSEPORT socket on the same port."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, sockets=[])
        self.own_sockets = [
            reuse_port_socket(config.host, config.port, config.backlog) for _ in range(self.processes_num)
        ]

    def _start(self, slot: int) -> Process:
        process = Process(self.config, [self.own_sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        """One process per socket."""
        self.processes = [self._start(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: each slot's process replaced in turn (the new one ready before the old one stops)."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """A dead or hung process is replaced on its own socket; uvicorn's rules otherwise."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE or self.should_exit.is_set():
                # Broken before it served (the app or the socket): every restart would fail alike.
                self.should_exit.set()
                return
            self.processes[slot] = self._start(slot)

    def run(self) -> None:
        """Serve until told to stop; the parent's copies of the sockets are closed after."""
        try:
            super().run()
        finally:
            for sock in self.own_sockets:
                sock.close()

    def handle_ttin(self) -> None:
        """More processes would need sockets of their own: not offered."""

    def handle_ttou(self) -> None:
        """Fewer processes would leave their sockets' queues unserved: not offered."""
