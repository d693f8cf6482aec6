"""Two instances on loopback with real TLS: trusted pairs say hello, everything else is refused
with its own message (the manual's "Troubleshooting Security Certificates" and its table)."""

import datetime as dt
import json
import socket
import ssl
import time
from contextlib import ExitStack

import pytest

from tests.real_instances import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def pair(real_instances, tmp_path):
    """alpha and beta, each with its identities, each trusting the other."""
    alpha, beta = real_instances("alpha"), real_instances("beta")
    for instance in (alpha, beta):
        instance.esync("certs", "generate")
    alpha.trust(beta, tmp_path)
    beta.trust(alpha, tmp_path)
    return alpha, beta


def refused_with(result, message: str) -> None:
    assert result.returncode == 4, result.stdout + result.stderr
    assert message in result.stdout, result.stdout


def test_a_trusted_pair_says_hello_both_ways(pair):
    alpha, beta = pair
    with alpha.sync_serving(), beta.sync_serving():
        forth = alpha.esync("certs", "test", f"127.0.0.1:{beta.sync_port}", "--json")
        back = beta.test_connection(alpha)
    report = json.loads(forth.stdout)
    assert report["ok"] and report["peer_name"] == "beta"
    assert report["server_id"] == beta.info()["server_id"]
    assert report["version"] == "0.1.0"
    assert [s["name"] for s in report["sites"]] == ["default"]
    assert report["databases"][0]["vendor"] == "sqlite"
    assert abs(report["clock_difference_seconds"]) < 5
    assert back.returncode == 0 and "Connection OK: alpha" in back.stdout


def test_a_client_without_a_certificate_is_refused_at_the_handshake(pair):
    _, beta = pair
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with beta.sync_serving(), pytest.raises((ssl.SSLError, ConnectionError)):  # noqa: PT012
        raw = socket.create_connection(("127.0.0.1", beta.sync_port), timeout=5)
        with context.wrap_socket(raw) as tls:
            tls.sendall(b"GET /esync/v1/hello HTTP/1.1\r\nHost: x\r\n\r\n")
            if not tls.recv(1024):
                raise ConnectionError("closed without an answer")


def test_an_unknown_client_certificate_is_refused(pair, real_instances, tmp_path):
    alpha, beta = pair
    gamma = real_instances("gamma")
    gamma.esync("certs", "generate")
    gamma.trust(beta, tmp_path)  # gamma trusts beta, but beta has never heard of gamma
    with beta.sync_serving():
        refused_with(gamma.test_connection(beta), "refused our certificate")
        assert alpha.test_connection(beta).returncode == 0


def test_nothing_listening_says_no_endpoint(pair):
    alpha, _ = pair
    port = free_port()
    result = alpha.esync("certs", "test", f"127.0.0.1:{port}", check=False)
    refused_with(result, f"There was no endpoint listening at 127.0.0.1:{port}")


def test_regenerated_keys_break_trust_until_reapplied_without_any_restart(pair, tmp_path):
    alpha, beta = pair
    with alpha.sync_serving(), beta.sync_serving():
        beta.esync("certs", "generate", "--discard-existing")
        refused_with(alpha.test_connection(beta), "The identity check failed")
        refused_with(beta.test_connection(alpha), "refused our certificate")
        alpha.trust(beta, tmp_path)  # the new export, applied while both services run
        assert alpha.test_connection(beta).returncode == 0
        assert beta.test_connection(alpha).returncode == 0


def test_a_removed_peer_is_refused_at_once(pair):
    alpha, beta = pair
    with beta.sync_serving():
        assert alpha.test_connection(beta).returncode == 0
        beta.esync("certs", "remove", "alpha")
        refused_with(alpha.test_connection(beta), "refused our certificate")


def test_an_expired_client_certificate_is_refused_with_what_to_do(pair, tmp_path):
    alpha, beta = pair
    # Certificates start five minutes back: this one lives until about 8 seconds from now.
    alpha.python(
        "import datetime as dt; from certificates.identities import generate_identities; "
        "generate_identities(discard_existing=True, "
        "valid_for=dt.timedelta(minutes=5, seconds=8))"
    )
    beta.trust(alpha, tmp_path)
    expires = dt.datetime.fromisoformat(json.loads(alpha.esync("certs", "list", "--json").stdout)
                                        ["identities"][1]["not_after"])
    with beta.sync_serving():
        time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds() + 1))
        refused_with(alpha.test_connection(beta), "because it has expired")


def test_different_versions_and_skewed_clocks_are_named(pair):
    alpha, beta = pair
    with beta.sync_serving(ESYNC_REPORTED_VERSION="0.2.0"):
        refused_with(alpha.test_connection(beta),
                     "esync versions differ: this instance runs 0.1.0, the peer runs 0.2.0")
    with beta.sync_serving(ESYNC_REPORTED_VERSION="0.1.7"):  # patch releases may differ
        assert alpha.test_connection(beta).returncode == 0
    with beta.sync_serving(ESYNC_CLOCK_OFFSET_SECONDS="600"):
        refused_with(alpha.test_connection(beta), "clocks of the two servers differ by 10.0")


def test_a_peer_without_a_site_has_no_viable_cms_sites(pair):
    alpha, beta = pair
    (beta.home / "siteroot").rename(beta.home / "siteroot-away")
    with ExitStack() as stack:
        stack.enter_context(beta.sync_serving())
        refused_with(alpha.test_connection(beta), "No viable CMS sites were found")
