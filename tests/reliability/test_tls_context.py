"""The async flavour also accepts an `ssl.SSLContext` as ``verify=``."""

from __future__ import annotations

import ssl

import trustme

from flue import AsyncFlueClient
from tests.reliability.rawserver import Exchange, RawServer, http_response

RECORD = (
    b'{"runId":"run_1","workflowName":"w","status":"active","startedAt":"2025-01-01T00:00:00Z"}'
)


async def test_async_verify_accepts_an_ssl_context() -> None:
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    def answer(ex: Exchange) -> None:
        ex.send(http_response(200, {"content-type": "application/json"}, RECORD))

    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with RawServer(answer, tls=server_context) as server:
        async with AsyncFlueClient(server.url, verify=client_context) as client:
            assert (await client.runs.get("run_1")).run_id == "run_1"
