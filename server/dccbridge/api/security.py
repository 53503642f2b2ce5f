"""Security for both faces: bearer-token auth, the rule that keeps a server without a token on loopback,
and the TLS key pair."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..errors import Unauthenticated

BEARER = "Bearer "


class BearerToken:
    """Checks the `authorization: Bearer <token>` header. No token configured: every caller is let in."""

    def __init__(self, token: str | None):
        self._expected = (BEARER + token).encode() if token else None

    @property
    def required(self) -> bool:
        return self._expected is not None

    def check(self, authorization: str) -> None:
        """Raise Unauthenticated unless the header carries the token. Missing and wrong get the same answer,
        and the comparison takes the same time whatever the header holds."""
        if self._expected is not None and not hmac.compare_digest(authorization.encode(), self._expected):
            raise Unauthenticated()


class AdminAccess(BearerToken):
    """The ordinary token (or none) plus an optional admin token (--admin-token). Either lets a caller in; with an
    admin token configured, only its holder sees other clients' jobs (ListJobs, GetJob, Watch, Cancel).
    Without one, every caller sees every job, as before."""

    def __init__(self, token: str | None, admin_token: str | None = None):
        super().__init__(token)
        self._admin = (BEARER + admin_token).encode() if admin_token else None

    @property
    def scoped(self) -> bool:
        """Callers of the ordinary token see only their own client's jobs."""
        return self._admin is not None

    def is_admin(self, authorization: str) -> bool:
        return self._admin is not None and hmac.compare_digest(authorization.encode(), self._admin)

    def check(self, authorization: str) -> None:
        if not self.is_admin(authorization):
            super().check(authorization)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def require_token_off_loopback(host: str, token: str | None) -> None:
    """Anyone who can reach a non-loopback address could run jobs and read every result: demand a token."""
    if not token and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run jobs and read "
            "results. Set --token-file PATH (or --token, or DCCBRIDGE_TOKEN), or listen on 127.0.0.1."
        )


def clear_text_token_warning(host: str, token: str | None, tls: bool) -> str:
    """A warning for a server that takes a token off loopback without TLS ("" when there is nothing to warn of):
    every request then carries the token in clear text, readable by anyone on the network path."""
    if not token or tls or is_loopback(host):
        return ""
    return (f"listening on {host} with a token but without TLS: the token travels in clear text on every request "
            "and anyone on the network path can read it (and the images). Add --tls-cert and --tls-key, or listen "
            "on 127.0.0.1 behind a TLS proxy.")


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate (chain) and its private key; both faces serve TLS with them."""

    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes]:
        return Path(self.cert).read_bytes(), Path(self.key).read_bytes()
