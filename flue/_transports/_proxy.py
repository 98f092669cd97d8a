"""Which proxy a request goes through: one pure decision that both transports use.

`proxy_settings()` is evaluated once, when the client is created: an explicit ``proxy=`` URL
applies to every request; otherwise, unless ``trust_env=False``, the standard environment
variables are read: ``HTTP_PROXY`` / ``HTTPS_PROXY`` (by the request URL's scheme),
``ALL_PROXY`` when the scheme has none, and ``NO_PROXY``. Lower-case names win over upper-case
ones, as in curl and the standard library, and ``HTTP_PROXY`` in upper case is ignored when
``REQUEST_METHOD`` is set (a CGI process, where a client could set it: "httpoxy").

``NO_PROXY`` is a comma-separated list of host names (matching the host and its subdomains; a
leading ``.`` or ``*.`` is optional), ``host:port`` entries, IP addresses, CIDR networks
(``10.0.0.0/8``), or ``*`` for every host.

Proxy credentials (``http://user:pass@proxy:3128``) are kept out of every repr and message:
errors name a proxy by host and port, and by where it came from (``proxy=`` or a variable).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import attrs

from flue.errors import InvalidArgumentError

__all__ = ["Proxy", "ProxySettings", "parse_proxy", "proxy_settings"]


@attrs.frozen(kw_only=True)
class Proxy:
    """One HTTP proxy: where it is, its credentials, and where the setting came from."""

    host: str
    port: int
    source: str
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``http://host:port``, without credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def display(self) -> str:
        """How messages name it: ``the proxy host:port (set by SOURCE)``."""
        return f"the proxy {self.url[len('http://') :]} (set by {self.source})"


@attrs.frozen(kw_only=True)
class _Invalid:
    """A proxy setting that cannot be used; raised only if a request would go through it."""

    message: str


@attrs.frozen(kw_only=True)
class ProxySettings:
    """The proxy decision for every request of one client."""

    by_scheme: Mapping[str, Proxy | _Invalid] = attrs.field(factory=dict)
    no_proxy: tuple[str, ...] = ()

    def for_url(self, url: str) -> Proxy | None:
        """The proxy to send a request to `url` through, or None to connect directly."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        choice = self.by_scheme.get(scheme) or self.by_scheme.get("all")
        if choice is None:
            return None
        host = (parts.hostname or "").lower()
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            port = 443 if scheme == "https" else 80
        if bypasses(host, port, self.no_proxy):
            return None
        if isinstance(choice, _Invalid):
            raise InvalidArgumentError(choice.message)
        return choice


def parse_proxy(value: str, *, source: str) -> Proxy:
    """A proxy URL (``http://[user:pass@]host[:port]``; ``host:port`` means http) as a
    `Proxy`. Errors never repeat the value: it may carry a password."""
    text = value.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme != "http":
        raise InvalidArgumentError(
            f"the proxy set by {source} is a {scheme}:// proxy, but flue supports http:// "
            "proxies only; set an http:// proxy, or bypass it (NO_PROXY, or trust_env=False "
            "on the client)"
        )
    try:
        port = parts.port or 80
    except ValueError:
        port = -1
    if not parts.hostname or port <= 0:
        raise InvalidArgumentError(
            f"the proxy set by {source} is not a valid proxy URL; expected "
            "http://[user:password@]host:port"
        )
    return Proxy(
        host=parts.hostname,
        port=port,
        source=source,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _from_env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(variable name, value)`` of the lower- or upper-case variable, lower-case first."""
    lower = name.lower()
    if lower in environ:
        value = environ[lower].strip()
        return (lower, value) if value else None  # set but empty: explicitly no proxy
    upper = name.upper()
    if upper == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
        return None
    value = environ.get(upper, "").strip()
    return (upper, value) if value else None


def proxy_settings(
    *, proxy: str | None, trust_env: bool, environ: Mapping[str, str]
) -> ProxySettings:
    """The proxy settings of a client (`environ` is ``os.environ``, read once)."""
    if proxy is not None:
        if not isinstance(proxy, str) or not proxy.strip():
            raise InvalidArgumentError("proxy must be a proxy URL such as 'http://proxy:3128'")
        return ProxySettings(by_scheme={"all": parse_proxy(proxy, source="the proxy= argument")})
    if not trust_env:
        return ProxySettings()
    by_scheme: dict[str, Proxy | _Invalid] = {}
    for scheme in ("http", "https", "all"):
        found = _from_env(environ, f"{scheme}_proxy")
        if found is None:
            continue
        name, value = found
        try:
            by_scheme[scheme] = parse_proxy(value, source=f"the {name} environment variable")
        except InvalidArgumentError as exc:
            by_scheme[scheme] = _Invalid(message=str(exc))
    no_proxy = _from_env(environ, "no_proxy")
    entries = tuple(
        e.strip().lower() for e in (no_proxy[1] if no_proxy else "").split(",") if e.strip()
    )
    return ProxySettings(by_scheme=by_scheme, no_proxy=entries)


def bypasses(host: str, port: int, no_proxy: tuple[str, ...]) -> bool:
    """True when `NO_PROXY` entries say to connect to ``host:port`` directly."""
    host = host.strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        if entry == "*":
            return True
        name, entry_port = entry, None
        if entry.startswith("[") and "]" in entry:  # [v6]:port or [v6]
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
            name, entry_port = entry.split(":")
        if entry_port is not None and entry_port != str(port):
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith(f".{name}")):
            return True
    return False
