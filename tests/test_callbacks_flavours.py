"""What differs between the flavours for ``params=`` and ``event_hooks=`` callables: the asyncio
client takes ``async`` functions, the blocking one refuses them with a message saying what to
use (at construction when it can tell, else at the request, before anything is sent)."""

from __future__ import annotations

from typing import Any

import pytest

from flue import AsyncFlueClient, FlueClient, FlueError, InvalidArgumentError, RequestInfo
from flue.testing import FlueTestServer
from tests.conftest import TOKEN


async def async_params() -> dict[str, str]:
    return {"a": "1"}


async def async_hook(info: RequestInfo) -> None:
    return None


class AsyncCallable:
    async def __call__(self, info: RequestInfo) -> None:
        return None


@pytest.mark.parametrize("hook", [async_hook, AsyncCallable()])
def test_blocking_client_refuses_async_hooks_at_construction(hook: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"async function.*AsyncFlueClient"):
        FlueClient("http://127.0.0.1:9", event_hooks={"request": [hook]})
    AsyncFlueClient("http://127.0.0.1:9", event_hooks={"request": [hook]})  # fine there


def test_blocking_client_refuses_async_params_at_construction_and_per_call() -> None:
    with pytest.raises(InvalidArgumentError, match="params is an async function"):
        FlueClient("http://127.0.0.1:9", params=async_params)
    with (
        FlueClient("http://127.0.0.1:9") as client,
        pytest.raises(InvalidArgumentError, match="params of this call is an async function"),
    ):
        client.streams.read("/runs/r", params=async_params)


def test_a_coroutine_returned_by_a_plain_callable_is_refused_before_sending(
    server: FlueTestServer,
) -> None:
    run_id = str(server.create_run())
    with (
        FlueClient(server.url, token=TOKEN, params=lambda: async_params()) as client,
        pytest.raises(InvalidArgumentError, match="async function"),
    ):
        client.runs.get(run_id)
    with FlueClient(
        server.url, token=TOKEN, event_hooks={"request": [lambda info: async_hook(info)]}
    ) as client:
        with pytest.raises(FlueError, match="async function") as err:
            client.runs.get(run_id)
        assert isinstance(err.value.__cause__, InvalidArgumentError)
    assert server.requests == []
