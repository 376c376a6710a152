"""End-to-end: downstream MCP servers over https, on the gateway's own TLS client (OpenSSL on the loop).

A private PKI is made with the `cryptography` package for the module: a CA, a server certificate for
localhost / 127.0.0.1 / ::1 and one for other.example, all signed by that CA. The SDK downstream
(servers/downstream.py --tls-cert/--tls-key, uvicorn's TLS) serves https with them; it counts the TCP
connections that carried MCP requests and the TLS handshakes (with their SNI names).

* A gateway with DOWNSTREAM_CA_FILE=<the CA> registers https downstreams (201) by name (`localhost`:
  SNI and name verification) and by address (`127.0.0.1`: address verification, no SNI); the SDK
  client lists and calls their tools in both connection modes, progress is relayed from the SSE
  downstream as it streams, a cancelled call is cancelled downstream, and list changes a downstream
  sends on its notification stream (the handshake era's GET stream, the 2026-07-28 listen stream)
  reach the gateway.
* Without the CA file the register is 502 with OpenSSL's verify reason; a certificate for another
  host is 502 with a hostname mismatch; nothing is stored either time.
* An unreadable or empty DOWNSTREAM_CA_FILE stops the gateway at start (exit 2, the variable named).
* Connections are kept alive and reused: many calls ride on a few connections with one handshake
  each, and the gateway's descriptors do not grow with the calls.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mcp import Client

from admin_fixtures import Admin, Downstream, describe, unique_name
from conftest import GatewayFactory
from mcp_fixtures import BASIC_TOOLS, poll, run, tool_dump

BOTH_MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])
GATEWAY_ENV = {"DOWNSTREAM_CONNECT_TIMEOUT": "3", "DOWNSTREAM_TIMEOUT": "10"}
VERIFY_ERROR = "TLS: certificate verify failed (unable to get local issuer certificate)"


# ---------------------------------------------------------------------------------------------------
# a private PKI

@dataclass
class PKI:
    ca: Path
    server_cert: Path
    server_key: Path
    other_cert: Path
    other_key: Path

    def server(self) -> tuple[str, str, str]:
        """(certificate, key, CA) of the localhost / 127.0.0.1 / ::1 certificate, for Downstream(tls=...)."""
        return str(self.server_cert), str(self.server_key), str(self.ca)

    def other(self) -> tuple[str, str, str]:
        return str(self.other_cert), str(self.other_key), str(self.ca)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _issue(ca_key, ca_name: x509.Name, cn: str, sans: list, directory: Path, stem: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("mcp-gateway e2e CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = _issue(ca_key, ca_name, "localhost",
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                     x509.IPAddress(ipaddress.ip_address("::1"))], d, "server")
    other = _issue(ca_key, ca_name, "other.example", [x509.DNSName("other.example")], d, "other")
    return PKI(d / "ca.pem", server[0], server[1], other[0], other[1])


# ---------------------------------------------------------------------------------------------------
# module fixtures: https downstreams and a gateway that trusts their CA

@pytest.fixture(scope="module")
def https_sse(pki, tmp_path_factory):
    d = Downstream(mode="sse", workdir=tmp_path_factory.mktemp("https-sse"), tls=pki.server(), host="localhost")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def https_json(pki, tmp_path_factory):
    d = Downstream(mode="json", workdir=tmp_path_factory.mktemp("https-json"), tls=pki.server())
    yield d
    d.stop()


@pytest.fixture(scope="module")
def tls_gateway(gateway_bin, tmp_path_factory, pki):
    factory = GatewayFactory(gateway_bin, tmp_path_factory.mktemp("tls-gateway"))
    try:
        yield factory(DOWNSTREAM_CA_FILE=str(pki.ca), **GATEWAY_ENV)
    finally:
        problems = factory.teardown(failed=False)
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@dataclass
class Federation:
    url: str
    admin: Admin
    sse_name: str
    json_name: str


@pytest.fixture(scope="module")
def federation(tls_gateway, https_sse, https_json):
    """The two https downstreams registered: the SSE one by name (https://localhost:P), the JSON one
    by address (https://127.0.0.1:P)."""
    admin = Admin(tls_gateway.url)
    sse, js = unique_name("tlss"), unique_name("tlsj")
    for name, ds in ((sse, https_sse), (js, https_json)):
        r = admin.register(name, ds.url)
        assert r.status_code == 201, f"register {name} -> {ds.url}: {describe(r)}\n{tls_gateway.log_tail()}"
        assert sorted(r.json()["tools"]) == sorted(BASIC_TOOLS), r.json()
    yield Federation(tls_gateway.url + "/mcp", admin, sse, js)
    for name in (sse, js):
        try:
            admin.delete(name)
        except httpx.HTTPError:
            pass
    admin.close()


def metric(gateway_url: str, name: str) -> float:
    text = httpx.get(gateway_url + "/metrics", timeout=5).text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


# ---------------------------------------------------------------------------------------------------
# working https

def test_downstream_urls_are_https(https_sse, https_json):
    assert https_sse.url.startswith("https://localhost:") and https_json.url.startswith("https://127.0.0.1:")
    assert https_sse.stats()["tls"]["handshakes"] >= 1, "the downstream does not count handshakes"


@BOTH_MODES
def test_list_and_call_through_https_downstreams(federation, mode):
    async def go():
        async with Client(federation.url, mode=mode, cache=None) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            echoes = [await c.call_tool(f"{svc}__echo", {"text": f"over tls via {svc}"})
                      for svc in (federation.sse_name, federation.json_name)]
            added = await c.call_tool(f"{federation.json_name}__add", {"a": 20, "b": 22})
            return names, echoes, added

    names, echoes, added = run(go)
    for svc in (federation.sse_name, federation.json_name):
        assert {f"{svc}__{t}" for t in BASIC_TOOLS} <= names, sorted(names)
    assert [e.content[0].text for e in echoes] == [f"over tls via {federation.sse_name}",
                                                   f"over tls via {federation.json_name}"], [tool_dump(e) for e in echoes]
    assert added.structured_content == {"result": 42}, tool_dump(added)


def test_sni_names_the_host_and_is_absent_for_an_address(federation, https_sse, https_json):
    assert set(https_sse.stats()["tls"]["sni"]) == {"localhost"}, https_sse.stats()["tls"]
    assert "(none)" in https_json.stats()["tls"]["sni"], https_json.stats()["tls"]


@BOTH_MODES
def test_progress_streams_over_https(federation, mode):
    seen: list = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async def go():
        async with Client(federation.url, mode=mode, cache=None) as c:
            return await c.call_tool(f"{federation.sse_name}__progress", {"steps": 4, "delay": 0.02},
                                     progress_callback=on_progress)

    r = run(go)
    assert not r.is_error and r.content[0].text == "done", tool_dump(r)
    assert seen == [(float(i), 4.0, f"step {i}/4") for i in range(1, 5)], seen


@BOTH_MODES
def test_a_cancelled_call_is_cancelled_downstream_over_https(federation, https_sse, mode):
    before = https_sse.stats()["slow"]

    async def go():
        async with Client(federation.url, mode=mode, cache=None) as c:
            with anyio.move_on_after(0.7) as scope:
                await c.call_tool(f"{federation.sse_name}__slow", {"seconds": 20})
            after = await c.call_tool(f"{federation.sse_name}__echo", {"text": "after-cancel"})
            return scope.cancelled_caught, after

    cancelled, after = run(go)
    assert cancelled and after.content[0].text == "after-cancel", tool_dump(after)
    s = poll(lambda: (lambda st: st if st["slow"]["cancelled"] > before["cancelled"] else None)(https_sse.stats()), 8)
    assert s, f"the slow call was not cancelled at the https downstream: {https_sse.stats()['slow']}"


def test_list_changes_on_the_listen_stream_reach_the_gateway(tls_gateway, pki, tmp_path):
    """A 2026-07-28 downstream announces a changed tool set on the gateway's subscriptions/listen
    stream, held open over TLS; the gateway re-fetches."""
    d = Downstream(mode="json", workdir=tmp_path, tls=pki.server())
    admin = Admin(tls_gateway.url)
    name = unique_name("tlsw")
    try:
        assert admin.register(name, d.url).status_code == 201
        time.sleep(0.5)  # the gateway opens its listen stream after the register

        def refetched():
            d.set_tool_set("changed")
            tools = admin.service(name).json().get("tools", [])
            return "multiply" in tools

        assert poll(refetched, 10, 0.5), f"no re-fetch after the https downstream's list change\n{tls_gateway.log_tail()}"
    finally:
        admin.delete(name)
        admin.close()
        d.stop()


def test_a_handshake_era_downstream_is_watched_on_its_get_stream_over_https(tls_gateway, pki, tmp_path):
    d = Downstream("--legacy-only", "--announce-tool", mode="sse", workdir=tmp_path, tls=pki.server(), host="localhost")
    admin = Admin(tls_gateway.url)
    name = unique_name("tlsg")
    try:
        assert admin.register(name, d.url).status_code == 201

        async def go():
            async with Client(tls_gateway.url + "/mcp", mode="legacy", cache=None) as c:
                await anyio.sleep(1.0)  # the gateway falls back from listen to the GET stream
                result = await c.call_tool(f"{name}__announce", {"tool_set": "changed"})
                assert result.content[0].text == "now changed", tool_dump(result)
                for _ in range(50):
                    if f"{name}__multiply" in {t.name for t in (await c.list_tools()).tools}:
                        return True
                    await anyio.sleep(0.2)
                return False

        assert run(go), "the list change sent on the GET stream over https did not lead to a re-fetch"
    finally:
        admin.delete(name)
        admin.close()
        d.stop()


# ---------------------------------------------------------------------------------------------------
# verification failures: 502 with the reason, nothing stored

def test_without_the_ca_file_register_is_502_with_the_verify_error(start_gateway, https_sse, https_json):
    gw = start_gateway(**GATEWAY_ENV)
    admin = Admin(gw.url)
    for ds in (https_sse, https_json):
        name = unique_name("tlsnoca")
        r = admin.register(name, ds.url)
        assert r.status_code == 502, describe(r)
        assert r.json()["error"]["code"] == "downstream_error"
        assert VERIFY_ERROR in r.json()["error"]["message"], r.json()
        assert admin.service(name).status_code == 404, "a failed register stored the service"
    assert metric(gw.url, "mcp_gateway_downstream_tls_failures_total") >= 2
    admin.close()


def test_a_certificate_for_another_host_is_502_hostname_mismatch(tls_gateway, pki, tmp_path):
    d = Downstream(mode="json", workdir=tmp_path, tls=pki.other(), host="localhost")
    admin = Admin(tls_gateway.url)
    try:
        for url in (d.url, d.url.replace("localhost", "127.0.0.1")):
            name = unique_name("tlsmis")
            r = admin.register(name, url)
            assert r.status_code == 502, describe(r)
            message = r.json()["error"]["message"]
            if "localhost" in url:
                assert "TLS: hostname mismatch (the certificate is not valid for localhost)" in message, message
            else:
                assert "TLS: IP address mismatch (the certificate is not valid for 127.0.0.1)" in message, message
            assert admin.service(name).status_code == 404
    finally:
        admin.close()
        d.stop()


def test_https_to_a_plain_http_server_says_so(tls_gateway, tmp_path):
    d = Downstream(mode="json", workdir=tmp_path)
    admin = Admin(tls_gateway.url)
    try:
        r = admin.register(unique_name("tlsplain"), d.url.replace("http://", "https://"))
        assert r.status_code == 502, describe(r)
        assert "TLS: handshake failed (wrong version number: is the server speaking https?)" in r.json()["error"]["message"], r.json()
    finally:
        admin.close()
        d.stop()


@pytest.mark.parametrize("problem", ["missing", "empty", "not-pem"])
def test_a_bad_ca_file_stops_the_gateway_at_start(run_gateway, tmp_path, pki, problem):
    path = tmp_path / "ca.pem"
    if problem == "empty":
        path.write_text("")
    elif problem == "not-pem":
        path.write_bytes(pki.server_key.read_bytes())  # a key, no certificate
    p = run_gateway("serve", DOWNSTREAM_CA_FILE=str(path))
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "configuration error: DOWNSTREAM_CA_FILE" in p.stderr and str(path) in p.stderr, p.stderr
    if problem == "missing":
        assert "No such file or directory" in p.stderr, p.stderr
    else:
        assert "holds no usable PEM certificate" in p.stderr, p.stderr


# ---------------------------------------------------------------------------------------------------
# keep-alive: few connections, one handshake each, nothing growing

def test_calls_reuse_kept_alive_connections(tls_gateway, pki, tmp_path):
    d = Downstream(mode="json", workdir=tmp_path, tls=pki.server())
    admin = Admin(tls_gateway.url)
    name = unique_name("tlsreuse")
    try:
        assert admin.register(name, d.url).status_code == 201
        handshakes_before = metric(tls_gateway.url, "mcp_gateway_downstream_tls_handshakes_total")
        resumed_before = metric(tls_gateway.url, "mcp_gateway_downstream_tls_resumptions_total")

        async def calls(n: int, concurrency: int):
            async with Client(tls_gateway.url + "/mcp", mode="legacy", cache=None) as c:
                async def one(i):
                    r = await c.call_tool(f"{name}__echo", {"text": f"n{i}"})
                    assert r.content[0].text == f"n{i}", tool_dump(r)
                for start in range(0, n, concurrency):
                    async with anyio.create_task_group() as tg:
                        for i in range(start, min(start + concurrency, n)):
                            tg.start_soon(one, i)

        run(calls, 40, 1)
        run(calls, 100, 8)  # the pool grows to the calls in flight, and stays (idle, kept alive)
        fds = tls_gateway.fd_count()
        run(calls, 100, 8)
        run(calls, 100, 8)
        s = d.stats()
        assert s["tool_calls"].get("echo") == 340, s["tool_calls"]
        # one connection per call in flight at most (8), plus the register's and the notification stream's
        assert s["connections"] <= 12, f"{s['connections']} TCP connections for 340 calls"
        assert s["tls"]["handshakes"] <= s["connections"] + 3, s["tls"]  # + this test's own /_stats requests
        new_handshakes = (metric(tls_gateway.url, "mcp_gateway_downstream_tls_handshakes_total") - handshakes_before
                          + metric(tls_gateway.url, "mcp_gateway_downstream_tls_resumptions_total") - resumed_before)
        assert new_handshakes <= 10, f"{new_handshakes} handshakes for 340 calls"
        assert tls_gateway.fd_count() <= fds + 2, f"descriptors grew from {fds} to {tls_gateway.fd_count()}"
    finally:
        admin.delete(name)
        admin.close()
        d.stop()
