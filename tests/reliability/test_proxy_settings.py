"""The one proxy decision both flavours use: environment variables, NO_PROXY, explicit proxy=,
trust_env=False; credentials never shown. Pure: the environment is a dict."""

from __future__ import annotations

import gzip

import certifi
import pytest

from flue._transports._common import DecodedBody, client_network, tunnel_error
from flue._transports._proxy import Proxy, ProxySettings, bypasses, parse_proxy, proxy_settings
from flue.errors import (
    ConnectionLostError,
    InvalidArgumentError,
    ProtocolError,
    ProxyAuthenticationError,
    ProxyError,
)

SECRET = "pa%3Ass"  # percent-encoded "pa:ss"
PAYLOAD = b"".join(b'{"type":"log","i":%d}' % i for i in range(500))


def chosen(env: dict[str, str], url: str, *, trust_env: bool = True) -> str | None:
    proxy = proxy_settings(proxy=None, trust_env=trust_env, environ=env).for_url(url)
    return None if proxy is None else f"{proxy.url} {proxy.source}"


def test_the_scheme_picks_the_variable_and_all_proxy_fills_in() -> None:
    env = {"HTTP_PROXY": "http://p1:3128", "HTTPS_PROXY": "p2:8080", "ALL_PROXY": "http://p3"}
    assert chosen(env, "http://h/x") == "http://p1:3128 the HTTP_PROXY environment variable"
    assert chosen(env, "https://h/x") == "http://p2:8080 the HTTPS_PROXY environment variable"
    only_all = {"all_proxy": "http://p3"}
    assert chosen(only_all, "https://h/x") == "http://p3:80 the all_proxy environment variable"
    assert chosen({}, "https://h/x") is None


def test_lower_case_wins_and_an_empty_lower_case_variable_means_none() -> None:
    env = {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}
    assert chosen(env, "https://h") == "http://low:1 the https_proxy environment variable"
    assert chosen({"https_proxy": "", "HTTPS_PROXY": "http://up:2"}, "https://h") is None
    assert chosen({"HTTPS_PROXY": "  "}, "https://h") is None


def test_upper_case_http_proxy_is_ignored_in_a_cgi_process() -> None:
    env = {"HTTP_PROXY": "http://attacker:1", "REQUEST_METHOD": "GET"}
    assert chosen(env, "http://h") is None
    assert chosen({**env, "http_proxy": "http://p:1"}, "http://h") is not None


def test_trust_env_false_and_explicit_proxy() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}
    assert chosen(env, "https://h", trust_env=False) is None
    explicit = proxy_settings(proxy="http://u:pw@ex:3128", trust_env=True, environ=env)
    proxy = explicit.for_url("https://h/x")  # NO_PROXY is for the environment's proxies
    assert proxy is not None and proxy.url == "http://ex:3128"
    assert proxy.source == "the proxy= argument"
    assert explicit.for_url("http://h/x") == proxy


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("*", "https://anything.example/x", True),
        ("example.com", "https://example.com/x", True),
        ("example.com", "https://api.example.com/x", True),
        ("example.com", "https://notexample.com/x", False),
        (".example.com", "https://example.com/x", True),
        ("*.example.com", "https://a.b.example.com/x", True),
        ("other.org, example.com", "https://example.com/x", True),
        ("example.com:8443", "https://example.com:8443/x", True),
        ("example.com:8443", "https://example.com/x", False),
        ("localhost", "http://LOCALHOST:8000/x", True),
        ("127.0.0.1", "http://127.0.0.1:8000/x", True),
        ("10.0.0.0/8", "http://10.20.30.40/x", True),
        ("10.0.0.0/8", "http://11.0.0.1/x", False),
        ("::1", "http://[::1]:8000/x", True),
        ("[::1]:8000", "http://[::1]:8000/x", True),
        ("[::1]:9000", "http://[::1]:8000/x", False),
        ("example.com", "http://10.0.0.1/x", False),
        ("", "https://example.com/x", False),
    ],
)
def test_no_proxy(no_proxy: str, url: str, direct: bool) -> None:
    env = {"HTTP_PROXY": "http://p:1", "HTTPS_PROXY": "http://p:1", "no_proxy": no_proxy}
    assert (chosen(env, url) is None) is direct


def test_bypasses_handles_a_trailing_dot() -> None:
    assert bypasses("api.example.com.", 443, ("example.com",))


def test_credentials_are_decoded_and_never_shown() -> None:
    proxy = parse_proxy(f"http://us%40er:{SECRET}@proxy.corp:3128", source="proxy=")
    assert (proxy.username, proxy.password) == ("us@er", "pa:ss")
    assert proxy.url == "http://proxy.corp:3128"
    for text in (
        repr(proxy),
        str(proxy),
        proxy.display,
        repr(ProxySettings(by_scheme={"all": proxy})),
    ):
        assert "pa:ss" not in text and SECRET not in text and "us@er" not in text
    v6 = parse_proxy("http://[::1]:3128", source="x")
    assert v6.host == "::1" and v6.url == "http://[::1]:3128"


@pytest.mark.parametrize(
    "value", [f"socks5://u:{SECRET}@p:1080", f"https://u:{SECRET}@p:443", f"http://u:{SECRET}@:1"]
)
def test_unusable_proxy_urls_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        proxy_settings(proxy=value, trust_env=True, environ={})
    assert SECRET not in str(info.value) and "the proxy= argument" in str(info.value)


def test_an_unusable_environment_proxy_fails_only_the_requests_that_use_it() -> None:
    env = {"ALL_PROXY": f"socks5://u:{SECRET}@p:1080", "NO_PROXY": "internal.example"}
    settings = proxy_settings(proxy=None, trust_env=True, environ=env)
    assert settings.for_url("https://internal.example/x") is None
    with pytest.raises(InvalidArgumentError) as info:
        settings.for_url("https://elsewhere.example/x")
    assert "ALL_PROXY" in str(info.value) and "http:// proxies only" in str(info.value)
    assert SECRET not in str(info.value)


def test_client_network_reads_the_ca_bundle_variables() -> None:
    bundle = certifi.where()  # a real PEM bundle: an unreadable one is refused
    verify, proxies = client_network(
        verify=True, proxy=None, trust_env=True, owns_session=True,
        environ={"REQUESTS_CA_BUNDLE": bundle},
    )  # fmt: skip
    assert verify == bundle and proxies == ProxySettings()
    verify, _ = client_network(
        verify=True, proxy=None, trust_env=False, owns_session=True,
        environ={"REQUESTS_CA_BUNDLE": bundle},
    )  # fmt: skip
    assert verify is True
    verify, _ = client_network(
        verify=False, proxy=None, trust_env=True, owns_session=True,
        environ={"CURL_CA_BUNDLE": bundle},
    )  # fmt: skip
    assert verify is False
    with pytest.raises(InvalidArgumentError, match="REQUESTS_CA_BUNDLE"):
        client_network(
            verify=True, proxy=None, trust_env=True, owns_session=True,
            environ={"REQUESTS_CA_BUNDLE": "/no/such/bundle.pem"},
        )  # fmt: skip


def test_client_network_leaves_a_callers_session_alone() -> None:
    _, proxies = client_network(
        verify=True, proxy=None, trust_env=True, owns_session=False,
        environ={"HTTPS_PROXY": "http://p:1"},
    )  # fmt: skip
    assert proxies is None
    with pytest.raises(InvalidArgumentError, match="session"):
        client_network(
            verify=True, proxy="http://p:1", trust_env=True, owns_session=False, environ={}
        )
    with pytest.raises(InvalidArgumentError, match="trust_env"):
        client_network(
            verify=True,
            proxy=None,
            trust_env="no",  # type: ignore[arg-type]
            owns_session=True,
            environ={},
        )


def test_tunnel_answers_are_classified() -> None:
    proxy = Proxy(host="p", port=1, source="the proxy= argument", username="u", password="pw")
    for status in (401, 407):
        auth = tunnel_error(proxy, status, "whatever", "h:443")
        assert isinstance(auth, ProxyAuthenticationError) and not auth.retryable
        assert not auth.sent and "refused the credentials" in str(auth) and "pw" not in str(auth)
    forbidden = tunnel_error(proxy, 403, "Access violation", "h:9")
    assert type(forbidden) is ProxyError and not forbidden.retryable
    assert "403 Access violation" in str(forbidden)
    for status in (500, 502, 503, 408):
        failed = tunnel_error(None, status, "Bad Gateway", "h:443")
        assert type(failed) is ProxyError and failed.retryable and not failed.sent
    assert ProxyError.retryable  # the class itself stays retryable


def _read(body: DecodedBody, raw: list[bytes]) -> bytes:
    out = []
    while (piece := body.pull()) != b"":
        if piece is None:
            body.push(raw.pop(0) if raw else b"")
        else:
            out.append(piece)
    return b"".join(out)


def test_decoded_body_whole_cut_short_and_corrupt() -> None:
    wire = gzip.compress(PAYLOAD)
    url = "http://h/runs/r?offset=-1"
    whole = DecodedBody.for_response("gzip", status=200, url=url)
    assert whole is not None and _read(whole, [wire[:10], wire[10:]]) == PAYLOAD
    cut = DecodedBody.for_response("gzip", status=200, url=url)
    assert cut is not None
    with pytest.raises(ConnectionLostError, match="cut short") as lost:
        _read(cut, [wire[: len(wire) // 2]])
    assert lost.value.retryable and "offset" not in str(lost.value)
    corrupt = DecodedBody.for_response("gzip", status=200, url=url)
    assert corrupt is not None
    with pytest.raises(ProtocolError, match="corrupt"):
        _read(corrupt, [b"\x1f\x8b\x08\x00garbage-garbage-garbage"])
    with pytest.raises(ProtocolError, match="'br'"):
        DecodedBody.for_response("br", status=200, url=url)
    assert DecodedBody.for_response(None, status=200, url=url) is None


def test_an_error_body_is_decoded_as_far_as_it_goes() -> None:
    wire = gzip.compress(PAYLOAD)
    url = "http://h/runs/r"
    cut = DecodedBody.for_response("gzip", status=502, url=url)
    assert cut is not None and PAYLOAD.startswith(_read(cut, [wire[: len(wire) // 2]]))
    corrupt = DecodedBody.for_response("gzip", status=503, url=url)
    assert corrupt is not None and _read(corrupt, [b"\x1f\x8b\x08\x00garbage-garbage"]) == b""
    assert DecodedBody.for_response("br", status=502, url=url) is None  # shown raw
