"""The /metrics endpoint: its port bound before kopf starts, then served on kopf's loop."""

from __future__ import annotations

import logging
import socket

import kopf
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from pricewise.controller.metrics import Metrics

log = logging.getLogger(__name__)


class MetricsPortError(kopf.PermanentError):
    """The metrics port cannot be bound. Permanent: kopf retries a startup handler's other
    errors forever, a traceback each time, and a port taken stays taken."""


def bind_metrics_port(port: int) -> socket.socket:
    """A socket bound to the metrics port on every interface, to serve /metrics from once kopf
    runs; raises `MetricsPortError`, naming the port and where to change it.

    `pricewise run` binds it before kopf starts, so that a port already taken is one error
    line and a non-zero exit. Not listening yet: a scrape during startup is refused at once
    rather than left waiting in the backlog.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As aiohttp's own sites do: a restart may bind while the last run's connections linger.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as err:
        sock.close()
        raise MetricsPortError(
            f"--metrics-port {port}: cannot serve /metrics on 0.0.0.0:{port}: "
            f"{err.strerror or err}; give a free port with --metrics-port (the Helm chart's "
            "metrics.port)"
        ) from None
    return sock


async def serve_metrics(metrics: Metrics, bound: socket.socket) -> web.AppRunner:
    """Serve /metrics on kopf's event loop, so that scrapes read the cache between events."""
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, bound).start()
    log.info("metrics on :%d/metrics", bound.getsockname()[1])
    return runner
