"""A configured CA is the only trust anchor for scrapes, as in Prometheus."""

from __future__ import annotations

import trustme

from agent.config import TLSConfig
from agent.scrape.http import build_ssl_context


def test_configured_ca_replaces_the_system_store(tmp_path) -> None:
    ca = trustme.CA()
    inline = build_ssl_context(TLSConfig(ca=ca.cert_pem.bytes().decode()))
    assert len(inline.get_ca_certs()) == 1
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    from_file = build_ssl_context(TLSConfig(ca_file=str(ca_file)))
    assert len(from_file.get_ca_certs()) == 1
