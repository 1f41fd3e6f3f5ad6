"""A throwaway certificate authority for tests (trustme): TLS for the fake puppet service and a client that trusts it.

The server's certificate names ``puppet.test``, not 127.0.0.1, so a client must verify against the CA file and
override the name it checks (grpclib: ``Configuration(ssl_target_name_override="puppet.test")``), as a deployment
behind an address that is not in its certificate does.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme

__all__ = ["SERVER_NAME", "client_ssl_context", "puppet_tls"]

SERVER_NAME = "puppet.test"


@contextmanager
def puppet_tls(server_name: str = SERVER_NAME) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """A server context (ALPN h2) with a certificate for ``server_name``, and the path of the CA's PEM file."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(server_name).configure_cert(server)
    server.set_alpn_protocols(["h2"])
    with tempfile.TemporaryDirectory(prefix="lianxin-tls-") as directory:
        ca_pem = Path(directory) / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_pem))
        yield server, ca_pem


def client_ssl_context(ca_pem: Path | None = None) -> ssl.SSLContext:
    """A client context for gRPC: ALPN h2, verifying with ``ca_pem`` (or only the system's CAs when None)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_pem) if ca_pem else None)
    context.set_alpn_protocols(["h2"])
    return context
