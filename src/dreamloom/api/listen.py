"""The listening sockets of ``dreamloom serve``, and refusing a port another server holds.

The API processes of a multi-process server each listen on their own SO_REUSEPORT socket, and
the kernel lets any later socket with SO_REUSEPORT (of the same user) join that group. A second
server started on the same port would then silently take a share of the connections (so did
the orphaned API processes of a killed server). So a server first binds the port without
SO_REUSEPORT: that bind fails while anyone listens there, shared or not.
"""

from __future__ import annotations

import errno
import socket

BACKLOG = 2048


class PortInUse(RuntimeError):
    """The port is held by another program or server (RuntimeError: the CLI prints it)."""


def _new_socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR only lets a restart bind over the last run's TIME_WAIT connections; on
    # Linux it never lets two sockets listen on one port.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use (another dreamloom server or another "
                "program listens there); stop it or choose another --port"
            ) from None
        raise RuntimeError(f"cannot listen on {host}:{port}: {err.strerror}") from None


def exclusive_socket(host: str, port: int) -> socket.socket:
    """A listening socket that no other socket can share (one-process mode)."""
    sock = _new_socket(host)
    _bind(sock, host, port)
    sock.listen(BACKLOG)
    return sock


def shared_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening SO_REUSEPORT sockets on a port nobody else listens on.

    The port is probed by an exclusive bind first, and the shared sockets are bound right
    after it closes (microseconds, before any API process is started): the kernel spreads
    connections over them, one per API process."""
    probe = _new_socket(host)
    _bind(probe, host, port)
    probe.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _new_socket(host)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            _bind(sock, host, port)
            sock.listen(BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
