#!/usr/bin/env python3
"""Test signing keys for bench/access.sh: writes DIR/jwks.json (an RS256 and an ES256 public key)
and prints two lines, `rs256 <token>` and `es256 <token>`, each valid for an hour with
iss=bench-issuer, aud=bench, scope mcp:*. Needs `cryptography` (scripts/venv.sh installs it)."""

import base64
import json
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int, size: int) -> str:
    return b64(n.to_bytes(size, "big"))


def main(directory: str) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rn, en = rsa_key.public_key().public_numbers(), ec_key.public_key().public_numbers()
    keys = [{"kty": "RSA", "kid": "r", "alg": "RS256", "n": uint(rn.n, 256), "e": uint(rn.e, 3)},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": uint(en.x, 32), "y": uint(en.y, 32)}]
    with open(f"{directory}/jwks.json", "w") as f:
        json.dump({"keys": keys}, f)
    now = int(time.time())
    claims = b64(json.dumps({"iss": "bench-issuer", "aud": "bench", "sub": "bench", "exp": now + 3600, "scope": "mcp:*"}).encode())
    for alg, kid, key in (("RS256", "r", rsa_key), ("ES256", "e", ec_key)):
        signing_input = f"{b64(json.dumps({'alg': alg, 'kid': kid}).encode())}.{claims}".encode()
        if alg == "RS256":
            sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        print(alg.lower(), f"{signing_input.decode()}.{b64(sig)}")


if __name__ == "__main__":
    main(sys.argv[1])
