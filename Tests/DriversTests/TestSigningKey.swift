import CCrypto
import GatewayCore

/// A private key generated at test time with libcrypto, acting as a token issuer: it publishes its
/// public half as a JWK and signs compact JWTs (RS256, or ES256 with the raw r || s signature).
final class TestSigningKey: @unchecked Sendable {
    enum Kind { case rsa(bits: Int32), p256 }

    let kind: Kind
    let evp: OpaquePointer

    init(_ kind: Kind) {
        self.kind = kind
        let ctx: OpaquePointer
        switch kind {
        case .rsa(let bits):
            ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil)!
            precondition(EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) == 1)
        case .p256:
            ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil)!
            precondition(EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_group_name(ctx, "prime256v1") == 1)
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        precondition(EVP_PKEY_generate(ctx, &key) == 1)
        evp = key!
    }

    deinit { EVP_PKEY_free(evp) }

    var algorithm: String {
        if case .p256 = kind { return "ES256" }
        return "RS256"
    }

    /// The public key as a JWK object's members (`kty` and its parameters), base64url as RFC 7518 §6 says.
    var publicMembers: [(String, String)] {
        switch kind {
        case .rsa:
            return [("kty", "RSA"), ("n", Base64URL.encode(bigNumber(OSSL_PKEY_PARAM_RSA_N))),
                    ("e", Base64URL.encode(bigNumber(OSSL_PKEY_PARAM_RSA_E)))]
        case .p256:
            var point = [UInt8](repeating: 0, count: 65)
            var length = 0
            precondition(EVP_PKEY_get_octet_string_param(evp, OSSL_PKEY_PARAM_PUB_KEY, &point, point.count, &length) == 1)
            precondition(length == 65 && point[0] == 0x04, "an uncompressed P-256 point")
            return [("kty", "EC"), ("crv", "P-256"),
                    ("x", Base64URL.encode(Array(point[1...32]))), ("y", Base64URL.encode(Array(point[33...64])))]
        }
    }

    /// A JWK object's text: the public members plus `extra` ones (kid, use, alg, or overrides).
    func jwk(_ extra: [(String, String)] = []) -> String {
        var members = publicMembers
        for (name, value) in extra {
            if let i = members.firstIndex(where: { $0.0 == name }) { members[i].1 = value } else { members.append((name, value)) }
        }
        return "{" + members.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}"
    }

    /// A compact JWT over the given payload text; `kid` goes into the header when set.
    func token(payload: String, kid: String?, alg: String? = nil) -> String {
        let kidMember = kid.map { #","kid":"\#($0)""# } ?? ""
        let header = #"{"alg":"\#(alg ?? algorithm)","typ":"JWT"\#(kidMember)}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        return input + "." + Base64URL.encode(sign(Array(input.utf8)))
    }

    /// SHA-256 signature of `message`: PKCS#1 v1.5 for RSA; for P-256 the DER OpenSSL makes,
    /// turned into JWS's fixed-size r || s (RFC 7518 §3.4).
    func sign(_ message: [UInt8]) -> [UInt8] {
        let ctx = EVP_MD_CTX_new()!
        defer { EVP_MD_CTX_free(ctx) }
        precondition(EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, evp) == 1)
        var length = 0
        precondition(EVP_DigestSign(ctx, nil, &length, message, message.count) == 1)
        var signature = [UInt8](repeating: 0, count: length)
        precondition(EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1)
        signature.removeLast(signature.count - length)
        guard case .p256 = kind else { return signature }
        return Self.rawECDSA(der: signature)
    }

    static func rawECDSA(der: [UInt8]) -> [UInt8] {
        let sig = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)!
        }
        defer { ECDSA_SIG_free(sig) }
        var raw = [UInt8](repeating: 0, count: 64)
        raw.withUnsafeMutableBufferPointer { out in
            precondition(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out.baseAddress, 32) == 32)
            precondition(BN_bn2binpad(ECDSA_SIG_get0_s(sig), out.baseAddress! + 32, 32) == 32)
        }
        return raw
    }

    private func bigNumber(_ name: String) -> [UInt8] {
        var bn: OpaquePointer?
        precondition(EVP_PKEY_get_bn_param(evp, name, &bn) == 1)
        defer { BN_free(bn) }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(bn) + 7) / 8))
        precondition(BN_bn2bin(bn, &bytes) == Int32(bytes.count))
        return bytes
    }
}

/// A JWK Set document from JWK object texts.
func jwks(_ keys: String...) -> [UInt8] {
    Array(#"{"keys":[\#(keys.joined(separator: ","))]}"#.utf8)
}
