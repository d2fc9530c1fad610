"""A target that never sleeps, for benchmarks only: non-blocking sockets polled with
``epoll`` and a zero timeout in a loop, answering every bodiless request with a fixed
200 "ok\\n" (keep-alive).

Against a target on the same machine, the generator's ``write`` also wakes the target's
process when it sleeps: on a VM, an inter-processor interrupt to an idle core, charged to
the generator. A target across a network never costs the generator that. This one is
always running, so no write has to wake it, and what the generator is charged is its
own work: ``flows.py --server spin`` compares the flow path with the fast path so.
It takes its core whole (pin it).

    python benchmarks/spin_target.py PORT
"""

from __future__ import annotations

import select
import socket
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nServer: spin\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
END = b"\r\n\r\n"


def serve(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=4096)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, tuple[socket.socket, bytearray]] = {}
    while True:
        for fd, _ in poller.poll(0):
            if fd == listener.fileno():
                _accept(listener, poller, conns)
            else:
                _answer(fd, poller, conns)


def _accept(listener: socket.socket, poller: select.epoll, conns: dict) -> None:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return
    conn.setblocking(False)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conns[conn.fileno()] = (conn, bytearray())
    poller.register(conn.fileno(), select.EPOLLIN)


def _answer(fd: int, poller: select.epoll, conns: dict) -> None:
    conn, pending = conns[fd]
    try:
        data = conn.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        poller.unregister(fd)
        conn.close()
        del conns[fd]
        return
    pending += data
    requests = pending.count(END)
    if requests:
        conn.sendall(RESPONSE * requests)
        del pending[:pending.rfind(END) + len(END)]


if __name__ == "__main__":
    serve(int(sys.argv[1]))
