"""End-to-end tests of MCP_AUTH=jwt: bearer JWTs signed by test keys (RS256 and ES256) whose JWKS
is served by a local HTTP endpoint, validated by the gateway on its loop:

* valid tokens of both algorithms reach /mcp (the SDK client, both eras) and their views by scope
  (``mcp:*``, ``mcp:<view>``); a token without an ``mcp:`` scope, or for another view, gets 403;
* expired, not yet valid, wrong audience, wrong issuer, tampered signature, ``alg: none``: 401;
* a key added to the JWKS after start (unknown ``kid``) is fetched on first use, and refetches are
  rate limited;
* the 401 carries ``WWW-Authenticate: Bearer resource_metadata=...`` and the RFC 9728 document
  names the issuer as the authorization server; the bearer never reaches the downstream.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time

import httpx
import httpx2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from mcp.client.streamable_http import streamable_http_client

from admin_fixtures import Admin, Downstream, describe, unique_name
from conftest import GatewayFactory, free_port
from mcp_fixtures import GATEWAY_ENV, MODES, final_message, modern_body, modern_headers, run
from mcp import Client

pytestmark = pytest.mark.deadline(60)
ISSUER = "https://issuer.test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int, size: int | None = None) -> str:
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


class Keys:
    """Signing keys and the JWKS document that publishes the public halves."""

    def __init__(self):
        self.private: dict[str, tuple[str, object]] = {}
        self.published: list[dict] = []

    def add_rsa(self, kid: str, publish: bool = True):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private[kid] = ("RS256", key)
        if publish:
            n = key.public_key().public_numbers()
            self.published.append({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": uint(n.n), "e": uint(n.e)})

    def add_ec(self, kid: str):
        key = ec.generate_private_key(ec.SECP256R1())
        self.private[kid] = ("ES256", key)
        n = key.public_key().public_numbers()
        self.published.append({"kty": "EC", "kid": kid, "crv": "P-256", "x": uint(n.x, 32), "y": uint(n.y, 32)})

    def sign(self, kid: str, claims: dict, alg: str | None = None) -> str:
        kind, key = self.private[kid]
        header = {"alg": alg or kind, "typ": "JWT", "kid": kid}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
        if kind == "RS256":
            sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input.decode()}.{b64(sig)}"


class JWKSServer:
    def __init__(self, keys: Keys):
        self.keys, self.hits = keys, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                body = json.dumps({"keys": outer.keys.published}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class Setup:
    def __init__(self, gw, keys: Keys, jwks: JWKSServer, svc: str, view: str, ds: Downstream):
        self.gw, self.keys, self.jwks, self.svc, self.view, self.ds = gw, keys, jwks, svc, view, ds

    def claims(self, aud: str | None = None, **over) -> dict:
        now = int(time.time())
        c = {"iss": ISSUER, "sub": "user-1", "aud": aud or f"{self.gw.url}/mcp", "exp": now + 300, "iat": now, "scope": "mcp:*"}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}


@pytest.fixture(scope="module")
def jwt_setup(gateway_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jwt")
    keys = Keys()
    keys.add_rsa("rsa-1")
    keys.add_ec("ec-1")
    jwks = JWKSServer(keys)
    factory = GatewayFactory(gateway_bin, tmp)
    port = free_port()
    gw = factory(port=port, PUBLIC_URL=f"http://127.0.0.1:{port}", DATABASE_URL=f"sqlite:{tmp / 'registry.db'}", MCP_AUTH="jwt",
                 JWKS_URL=jwks.url, JWT_ISSUER=ISSUER,
                 JWKS_MIN_REFRESH_INTERVAL="2", **GATEWAY_ENV)
    ds = Downstream(mode="json", workdir=tmp)
    admin = Admin(gw.url)
    svc, view = unique_name("jwt"), unique_name("jv")
    assert admin.register(svc, ds.url).status_code == 201
    r = admin.request("POST", "/virtual-servers", json_body={"name": view, "include": [f"{svc}__echo"]})
    assert r.status_code == 201, describe(r)
    try:
        yield Setup(gw, keys, jwks, svc, view, ds)
    finally:
        admin.close()
        ds.stop()
        jwks.stop()
        problems = factory.teardown(False)
        assert not problems, problems


def echo(url: str, token: str | None, rid: int = 1, tool: str | None = None) -> httpx.Response:
    headers = modern_headers("tools/call", tool, **({"Authorization": f"Bearer {token}"} if token else {}))
    return httpx.post(url, json=modern_body(rid, "tools/call", {"name": tool, "arguments": {"text": "hi"}}),
                      headers=headers, timeout=20)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_valid_tokens_reach_mcp_with_the_sdk(jwt_setup, mode, kid):
    s = jwt_setup
    token = s.keys.sign(kid, s.claims())

    async def go():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20)
        async with Client(streamable_http_client(f"{s.gw.url}/mcp", http_client=http), mode=mode, cache=None) as c:
            assert c.protocol_version == MODES[mode]
            return await c.call_tool(f"{s.svc}__echo", {"text": "signed"})

    assert run(go).content[0].text == "signed"
    assert "authorization" not in {k.lower() for k in s.ds.stats()["last_call_headers"]}


def test_scopes_map_to_views(jwt_setup):
    s = jwt_setup
    view_url = f"{s.gw.url}/mcp/{s.view}"
    scoped = s.keys.sign("rsa-1", s.claims(scope=f"openid mcp:{s.view}"))
    r = echo(view_url, scoped, tool=f"{s.svc}__echo")
    assert r.status_code == 200 and final_message(r, 1)["result"]["content"][0]["text"] == "hi", describe(r)
    r = echo(f"{s.gw.url}/mcp", scoped, tool=f"{s.svc}__echo")
    assert r.status_code == 403 and 'scope="mcp:*"' in r.headers["www-authenticate"], describe(r)
    # The audience may be the view's own URL.
    own = s.keys.sign("ec-1", s.claims(aud=view_url, scope=f"mcp:{s.view}"))
    assert echo(view_url, own, tool=f"{s.svc}__echo").status_code == 200
    # An array scope claim (`scp`-style) works when configured; a token without any mcp: scope is refused.
    none = s.keys.sign("rsa-1", s.claims(scope="openid profile"))
    r = echo(f"{s.gw.url}/mcp", none, tool=f"{s.svc}__echo")
    assert r.status_code == 403, describe(r)


@pytest.mark.parametrize("case", ["expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "tampered", "alg_none", "garbage"])
def test_invalid_tokens_get_401(jwt_setup, case):
    s = jwt_setup
    now = int(time.time())
    if case == "expired":
        token = s.keys.sign("rsa-1", s.claims(exp=now - 3600))
    elif case == "not_yet_valid":
        token = s.keys.sign("ec-1", s.claims(nbf=now + 3600))
    elif case == "wrong_audience":
        token = s.keys.sign("rsa-1", s.claims(aud="https://elsewhere.test/mcp"))
    elif case == "wrong_issuer":
        token = s.keys.sign("ec-1", s.claims(iss="https://evil.test"))
    elif case == "tampered":
        good = s.keys.sign("rsa-1", s.claims())
        head, payload, sig = good.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["scope"] = "mcp:* admin"
        token = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    elif case == "alg_none":
        token = f"{b64(json.dumps({'alg': 'none', 'kid': 'rsa-1'}).encode())}.{b64(json.dumps(s.claims()).encode())}."
    else:
        token = "not.a.jwt"
    r = echo(f"{s.gw.url}/mcp", token, tool=f"{s.svc}__echo")
    assert r.status_code == 401, describe(r)
    assert 'error="invalid_token"' in r.headers["www-authenticate"], r.headers
    assert token not in s.gw.log_text(), "a bearer token reached the log"


def test_unknown_kid_is_fetched_and_refetches_are_limited(jwt_setup):
    s = jwt_setup
    s.keys.add_rsa("rsa-2")  # published now: the gateway has not seen it
    time.sleep(3)  # past JWKS_MIN_REFRESH_INTERVAL since any earlier fetch
    before = s.jwks.hits
    r = echo(f"{s.gw.url}/mcp", s.keys.sign("rsa-2", s.claims()), tool=f"{s.svc}__echo")
    assert r.status_code == 200, describe(r)
    assert s.jwks.hits == before + 1, (before, s.jwks.hits)
    # Unknown kids keep arriving: at most one refetch per minimum interval.
    s.keys.add_rsa("rsa-3", publish=False)
    for i in range(5):
        r = echo(f"{s.gw.url}/mcp", s.keys.sign("rsa-3", s.claims()), rid=i, tool=f"{s.svc}__echo")
        assert r.status_code == 401, describe(r)
    assert s.jwks.hits == before + 1, "unknown kids triggered more than one JWKS fetch"


def test_401_challenge_and_metadata_name_the_issuer(jwt_setup):
    s = jwt_setup
    r = echo(f"{s.gw.url}/mcp", None, tool=f"{s.svc}__echo")
    assert r.status_code == 401, describe(r)
    challenge = r.headers["www-authenticate"]
    meta_url = f"{s.gw.url}/.well-known/oauth-protected-resource/mcp"
    assert challenge == f'Bearer resource_metadata="{meta_url}"', challenge
    doc = httpx.get(meta_url, timeout=10).json()
    assert doc["resource"] == f"{s.gw.url}/mcp" and doc["authorization_servers"] == [ISSUER], doc
    view_doc = httpx.get(f"{s.gw.url}/.well-known/oauth-protected-resource/mcp/{s.view}", timeout=10).json()
    assert view_doc["resource"] == f"{s.gw.url}/mcp/{s.view}" and f"mcp:{s.view}" in view_doc["scopes_supported"], view_doc
    # Unknown views get a document too: the metadata is no oracle of which views exist.
    ghost = unique_name("nosuch")
    doc = httpx.get(f"{s.gw.url}/.well-known/oauth-protected-resource/mcp/{ghost}", timeout=10)
    assert doc.status_code == 200 and doc.json()["resource"] == f"{s.gw.url}/mcp/{ghost}", describe(doc)
    assert httpx.get(f"{s.gw.url}/.well-known/oauth-protected-resource/mcp/Not_A_Name", timeout=10).status_code == 404
