"""The API client's own behaviour against a small HTTP server in the test's process: what the
API server answers is scripted, what the client does with it is asserted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from kubernetes import client

from pricewise import kube
from pricewise.kube import ApiError, Kube


async def _ask(answers: list[tuple[int, dict[str, str]]]) -> tuple[Any, int]:
    """GET once from a server that gives `answers` in turn (status, headers), the last one
    again once they run out; what the client returned or raised, and how often it asked."""
    asked = 0

    async def handle(_: web.Request) -> web.Response:
        nonlocal asked
        status, headers = answers[min(asked, len(answers) - 1)]
        asked += 1
        body = {"message": "storage is (re)initializing"} if status == 429 else {"items": []}
        return web.json_response(body, status=status, headers=headers)

    got = await _get_once(handle, "/apis/pricewise.dev/v1alpha1/pricetables")
    return got, asked


async def _get_once(handle: Any, path: str) -> Any:
    """GET `path` once from a local server answering it with `handle`: what the client
    returned, or the ApiError it raised."""
    app = web.Application()
    app.router.add_get(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api = Kube(client.Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}"))
    try:
        return await api.request("GET", path)
    except ApiError as err:
        return err
    finally:
        await api.close()
        await runner.cleanup()


def test_a_429_is_asked_again_after_its_retry_after() -> None:
    # A quote made just after the CRDs were installed failed on "storage is (re)initializing";
    # client-go (kubectl) asks again after the Retry-After.
    got, asked = asyncio.run(_ask([(429, {"Retry-After": "0"}), (200, {})]))
    assert (got, asked) == ({"items": []}, 2)


def test_a_429_that_lasts_ends_in_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube, "RETRIES_429", 2)
    got, asked = asyncio.run(_ask([(429, {"Retry-After": "0"})]))
    assert isinstance(got, ApiError) and got.status == 429
    assert "storage is (re)initializing" in str(got)
    assert asked == 3


def test_a_retry_after_is_read_within_bounds() -> None:
    assert [kube._retry_after(h) for h in (None, "2", "600", "-1", "soon")] == [1, 2, 10, 0, 1]


def test_a_client_whose_replica_lost_its_lease_sends_no_write() -> None:
    # A cycle went on writing after its Lease lapsed: beside the next leader's placements.
    api = Kube(client.Configuration(host="http://127.0.0.1:9"))  # nothing listens there
    api.may_write = lambda: False
    with pytest.raises(ApiError, match="Lease lapsed") as refused:
        asyncio.run(api.patch_status("trainingjobs", "a", "j", {"phase": "Admitted"}))
    assert (refused.value.status, sum(api.requests.values())) == (503, 0)


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (200, b"", {}),  # an empty body sent in chunks read as None, then failed its callers
        (502, b"", "HTTP 502: Bad Gateway"),  # read "HTTP 502: None"
        (503, b'"overloaded"', "HTTP 503: Service Unavailable"),
        (200, b"[1]", "HTTP 200: the answer is a JSON list"),
    ],
)
def test_an_answer_of_another_shape_is_an_api_error_or_nothing(
    status: int, body: bytes, says: object
) -> None:
    async def ask() -> object:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(status=status)
            response.enable_chunked_encoding()
            response.content_type = "application/json"
            await response.prepare(request)
            if body:
                await response.write(body)
            await response.write_eof()
            return response

        got = await _get_once(handle, "/api/v1/nodes")
        return str(got) if isinstance(got, ApiError) else got

    assert asyncio.run(ask()) == says
