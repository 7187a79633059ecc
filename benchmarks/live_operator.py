"""The operator as the end-to-end benchmarks run it: started against the local cluster and
waited for until it leads, then its process and metrics read for the figures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from pricewise.kube import ApiError, Kube


def start(log_path: Path, metrics_port: int) -> subprocess.Popen[bytes]:
    """`pricewise run` against $KUBECONFIG, logging to `log_path`; returns once it leads."""
    operator = subprocess.Popen(
        [sys.executable, "-m", "pricewise", "run", "--metrics-port", str(metrics_port)],
        env={**os.environ, "PRICEWISE_NAMESPACE": "default"},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "leading" not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    return operator


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_samples(port: int, name: str) -> dict[str, float]:
    """A metric's samples by their labels as written (`{purpose="waiting"}`, or "" for none),
    from the operator's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            samples[series[len(name) :]] = float(value)
    return samples


def metric_total(port: int, name: str) -> float:
    """The sum of a metric's samples over all its labels, from the operator's /metrics."""
    return sum(metric_samples(port, name).values())


def stop(operator: subprocess.Popen[bytes]) -> None:
    """Stop the operator and wait for it."""
    operator.terminate()
    operator.wait(timeout=60)


async def watch_objects(
    kube: Kube, path: str, see: Callable[[dict[str, Any]], None], done: asyncio.Event
) -> None:
    """Call `see` on every object under `path` as it is listed, added or modified, until `done`
    is set. It lists, then watches from the list's version, and does so again whenever the API
    server ends the stream, so that no change is missed. Lines are split by hand: a watch line
    may be longer than aiohttp's line limit."""
    while not done.is_set():
        try:
            listed = await kube.request("GET", path)
        except ApiError as error:
            if error.status != 429:
                raise
            # "storage is (re)initializing": the API server's cache of the type is rebuilding.
            await asyncio.sleep(0.5)
            continue
        for obj in listed["items"]:
            see(obj)
        url = f"{kube.host}{path}?watch=1&resourceVersion={listed['metadata']['resourceVersion']}"
        session = kube._session
        assert session is not None  # opened by the list above
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
            buffer = b""
            async for chunk in response.content.iter_any():
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        see(event["object"])
                if done.is_set():
                    return


async def reached(done: asyncio.Event, watcher: asyncio.Task[None], timeout: float) -> None:
    """Wait for `done` while `watcher` goes on; raise what stopped the watcher if it stopped
    first, or TimeoutError after `timeout` seconds."""
    finished = asyncio.create_task(done.wait())
    await asyncio.wait({finished, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finished.cancel()
    if not done.is_set() and watcher.done():
        watcher.result()  # raises what stopped the watch
    if not done.is_set():
        watcher.cancel()
        raise TimeoutError(f"not done within {timeout:.0f} s")


async def until(done: asyncio.Event, watcher: asyncio.Task[None], timeout: float) -> None:
    """Wait for `done` (as `reached`), then stop `watcher`."""
    await reached(done, watcher, timeout)
    watcher.cancel()
