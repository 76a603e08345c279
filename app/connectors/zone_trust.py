"""Which URLs a ``zoneInformation`` answer may name (docs/security.md).

The zone's ``url`` receives the API secret and integration code with every request, and its
``webUrl`` is opened in the browser. An answer is trusted only with the same rules as the
configuration (https, plain http only on loopback, no user-info) and only on Autotask's own domain
or on the host of the lookup URL the user configured (that host vouches for itself: a proxy, the
simulators).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.config import is_loopback_host

AUTOTASK_DOMAINS = ("autotask.net",)


def _on_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def trusted_zone_url(url: str, lookup_url: str) -> bool:
    """True when ``url`` may receive our credentials (or be opened in the browser)."""
    try:
        parts = urlsplit(url.strip())
        lookup_host = (urlsplit(lookup_url).hostname or "").lower()
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme == "http":
        if not is_loopback_host(host):
            return False
    elif parts.scheme != "https":
        return False
    return host == lookup_host or any(_on_domain(host, domain) for domain in AUTOTASK_DOMAINS)
