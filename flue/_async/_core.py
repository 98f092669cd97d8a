# What a client serves its resources, streams and observers (`ClientHost`, one `ClientCore`
# per client): the one path every request takes (`send`: headers, query parameters, event
# hooks), the retries of one-shot calls (`call_json`, with the one retry decision `decide()`),
# the readers of streams, and the closing of everything under way when the client closes.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import logging
import random
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from flue._async._callbacks import Params, call_user, resolve_headers
from flue._async._host import (
    AsyncResponseProtocol,
    AsyncTransportProtocol,
    Cancellable,
    ClientSettings,
    Reader,
)
from flue._protocol.decide import Raise, decide, mark_first_contact
from flue._protocol.encoding import ACCEPT_ENCODING
from flue._protocol.hooks import request_info, response_info
from flue._protocol.http import HttpRequest, with_params
from flue._protocol.lines import ServerLines
from flue._protocol.params import (
    LiveArg,
    check_offset,
    check_tail,
    merge_params,
    normalize_live,
    query_pairs,
)
from flue._protocol.responses import api_error, load_json, snippet
from flue._protocol.retry import RetryState
from flue._protocol.secrets import Secrets, credential_values, redact
from flue._transports._aiohttp import AsyncCancelToken
from flue._transports._reasons import unreachable
from flue.errors import (
    FlueError,
    ProtocolError,
    TransportError,
)

if TYPE_CHECKING:
    from flue._protocol.batches import Decode

__all__ = ["ClientCore", "client_closed"]

logger = logging.getLogger("flue")

_MAX_JSON_BODY = 64 * 1024 * 1024


def client_closed() -> FlueError:
    return FlueError("this client is closed; create a new one")


class ClientCore:
    """The `ClientHost` of one client: its transport, credentials, hooks and registries."""

    def __init__(
        self,
        settings: ClientSettings,
        transport: AsyncTransportProtocol,
        *,
        token: str | None,
        headers: Mapping[str, str] | Callable[[], Any] | None,
        params: Params | None,
        request_hooks: tuple[Callable[..., Any], ...],
        response_hooks: tuple[Callable[..., Any], ...],
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._token = token
        self._headers = headers
        self._params = params
        self._request_hooks = request_hooks
        self._response_hooks = response_hooks
        self.secrets = Secrets(token)  # redacted from server-derived error text and logs
        self.lines = ServerLines()  # which Flue line each server speaks, once it said so
        self.closed = False
        self.streams: weakref.WeakSet[Cancellable] = weakref.WeakSet()
        self._calls: set[AsyncCancelToken] = set()  # tokens of the one-shot calls under way
        # retry jitter for every stream of the client (one generator: 2.5 KB less per stream)
        self._rng = random.Random()
        self._answered: set[tuple[str, str, int | None]] = set()  # origins that ever answered

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def catchup(self) -> Literal["get", "sse"]:
        return self._settings.catchup

    def check_open(self) -> None:
        """Raise `FlueError` once the client is closed."""
        if self.closed:
            raise client_closed()

    async def close(self) -> None:
        """Stop the client's streams and calls, and close the transport."""
        self.closed = True
        for stream in list(self.streams):
            stream.cancel()
        for token in list(self._calls):
            token.set()
        await self._transport.close()

    def track(self, stream: Cancellable) -> None:
        self.check_open()
        self.streams.add(stream)

    def cancel_token(self) -> AsyncCancelToken:
        return self._transport.cancel_token()

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        await self._transport.sleep(seconds, token)

    async def call_json(
        self,
        request: HttpRequest,
        *,
        run_id: str | None = None,
        workflow: str | None = None,
        idempotent: bool = True,
        wait: bool = False,
    ) -> Any:
        """Send a one-shot request with retries and return its decoded JSON body."""
        self.check_open()
        state = RetryState(self._settings.retry)
        token = self._transport.cancel_token()  # set by close(), from any task or thread
        self._calls.add(token)
        try:
            while True:
                body, error = await self._attempt(
                    request, token, wait=wait, run_id=run_id, workflow=workflow
                )
                if error is None:
                    return _decode_json(body, request.url, self.secrets())
                if self.closed:
                    raise client_closed() from error
                decision = decide(state, error, idempotent=idempotent)
                if isinstance(decision, Raise):
                    raise decision.error
                logger.debug(
                    "flue: retry %d in %.2fs after: %s", decision.attempt, decision.seconds, error
                )
                await self._transport.sleep(decision.seconds, token)
                self.check_open()
        finally:
            self._calls.discard(token)

    async def _attempt(
        self,
        request: HttpRequest,
        token: AsyncCancelToken,
        *,
        wait: bool,
        run_id: str | None = None,
        workflow: str | None = None,
    ) -> tuple[bytes, FlueError | None]:
        """One attempt of a one-shot call: its body, or the error that ended it."""
        try:
            response = await self.send(request, token, wait=wait)
            try:
                body = await response.read_all(_MAX_JSON_BODY)
            finally:
                await response.close()
        except TransportError as exc:
            return b"", exc
        status = response.status
        if status < 300:
            return body, None
        lowered = {k.lower(): v for k, v in response.headers.items()}
        error = api_error(
            status,
            lowered,
            body,
            url=request.url,
            now=time.time(),
            run_id=run_id,
            workflow=workflow,
        )
        return b"", redact(error, self.secrets())

    async def send(
        self,
        request: HttpRequest,
        token: AsyncCancelToken,
        *,
        wait: bool = False,
        params: Params | None = None,
    ) -> AsyncResponseProtocol:
        """Send one HTTP request (every request of the client goes through here): add the
        headers and query parameters, run the event hooks, return once the head arrived.
        ``params``: a call's own query parameters, merged over the client's."""
        self.check_open()
        headers = await self._headers_for(request)
        if self._params is not None or params is not None:
            pairs = merge_params(
                await self._resolve_params(self._params, "params"),
                await self._resolve_params(params, "params of this call"),
            )
            request = with_params(request, pairs)
        info = None
        if self._request_hooks or self._response_hooks:
            info = request_info(
                request.method, request.url, headers, request.kind.value, self.secrets()
            )
            for hook in self._request_hooks:
                await self._run_hook(hook, info, "request")
        logger.debug("flue: %s %s", request.method, request.url)
        started = time.monotonic()
        origin = _origin(request.url)
        try:
            response = await self._transport.open(request, headers, wait=wait, token=token)
        except TransportError as exc:
            why = unreachable(exc) if origin not in self._answered else None
            if why is not None:  # a wrong URL, or no server: fail fast (docs/retries.md)
                mark_first_contact(exc, why)
            raise
        self._answered.add(origin)
        if info is not None and self._response_hooks:
            elapsed = time.monotonic() - started
            answer = response_info(response.status, response.headers, elapsed, info, self.secrets())
            try:
                for hook in self._response_hooks:
                    await self._run_hook(hook, answer, "response")
            except BaseException:
                await response.close()
                raise
        return response

    async def _headers_for(self, request: HttpRequest) -> dict[str, str]:
        headers = dict(request.headers)
        # the protocol's own headers (Accept, Content-Type) win over the caller's: an SSE read
        # must ask for text/event-stream whatever the caller's defaults say
        protocol = {name.lower() for name in headers}
        for name, value in (await resolve_headers(self._headers)).items():
            if name.lower() not in protocol:
                headers[name] = value
        # what both flavours can decode (a caller's own Accept-Encoding header wins)
        if not any(name.lower() == "accept-encoding" for name in headers):
            headers["Accept-Encoding"] = ACCEPT_ENCODING
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        self.secrets.add_headers(headers)
        return headers

    async def _resolve_params(
        self, params: Params | None, source: str
    ) -> dict[str, list[str]] | None:
        if params is None:
            return None
        if callable(params):
            params = await call_user(params)
        pairs = query_pairs(params, source=source)
        secrets = self.secrets()
        for name, values in pairs.items():
            for value in values:
                if credential_values({name: value}) or any(s in value for s in secrets):
                    # a credential in the query (a credential-like name, or the token):
                    # redacted from hooks, errors and logs, also as sent (percent-encoded)
                    self.secrets.add(value)
                    self.secrets.add(quote(value, safe=""))
        return pairs

    async def _run_hook(self, hook: Callable[..., Any], info: Any, event: str) -> None:
        try:
            await call_user(hook, info)
        except Exception as exc:
            name = getattr(hook, "__qualname__", None) or repr(hook)
            raise FlueError(
                f"the {event} event hook {name} raised {type(exc).__name__}: {exc}; the call "
                f"was stopped (not retried): fix the hook, or let it catch its own errors"
            ) from exc

    def reader(
        self,
        url: str,
        *,
        offset: str,
        tail: int | None,
        live: LiveArg,
        decode: Decode = "json",
        objects_only: bool = True,
        run_id: str | None = None,
    ) -> Reader:
        from flue._protocol.reader import ReadMachine

        settings = self._settings
        return ReadMachine(
            url,
            offset=check_offset(offset),
            tail=check_tail(tail),
            live=normalize_live(live),
            decode=decode,
            objects_only=objects_only,
            run_id=run_id,
            retry=settings.retry,
            max_event_size=settings.max_event_size,
            max_body_size=8 * settings.max_event_size,
            stall=settings.timeout.stall,
            secrets=self.secrets,
            rng=self._rng,
        )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # refused by the transport anyway
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _decode_json(body: bytes, url: str, secrets: frozenset[str]) -> Any:
    try:
        return load_json(body)  # nested too deeply is a ValueError too
    except (ValueError, UnicodeDecodeError) as exc:
        error = ProtocolError(
            f"expected a JSON body from {url.split('?', 1)[0]}, got: {snippet(body)!r}"
        )
        raise redact(error, secrets) from exc
