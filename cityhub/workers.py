"""``cityhub serve --workers N``: N worker processes serving one listening socket.

The parent binds the socket and starts N processes (``spawn``: nothing of the parent's state is
shared); each builds its own app with :func:`cityhub.app.create_app` and runs uvicorn on the
inherited socket, so the kernel spreads connections over them. Workers are stateless: they share
only the PostgreSQL database, as workers on other machines do (DESIGN.md decision 5). The parent
stops them all on SIGINT/SIGTERM, and stops the others when one exits.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from cityhub.serving import HubServer, bind, server_config
from cityhub.settings import Settings


def _worker(settings: Settings, sock: socket.socket) -> None:
    from cityhub.app import create_app

    HubServer(server_config(create_app(settings), settings)).run(sockets=[sock])


def worker_settings(settings: Settings, n: int) -> Settings:
    """Worker ``n``'s settings: only the first subscribes to the IoT agent's MQTT topics (one
    persistent session per client id); the others publish commands under ids of their own."""
    if n == 0 or not settings.iot_mqtt_url:
        return settings
    return dataclasses.replace(
        settings,
        iot_mqtt_subscribe=False,
        iot_mqtt_client_id=f"{settings.iot_mqtt_client_id}-{n}",
    )


def run_workers(settings: Settings, workers: int) -> int:
    """Serve with ``workers`` processes until a signal or a worker's exit; returns the exit code.

    Raises:
        BindError: the port could not be had (nothing was started).
    """
    sock = bind(settings.host, settings.port)
    context = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    for n in range(workers):
        procs.append(
            context.Process(
                target=_worker,
                args=(worker_settings(settings, n), sock),
                name=f"cityhub-worker-{n}",
            )
        )
        procs[-1].start()
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and all(p.is_alive() for p in procs):
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    codes = [p.exitcode or 0 for p in procs]
    return 0 if stopping else max(codes, default=0) or 1


__all__ = ["run_workers", "worker_settings"]
