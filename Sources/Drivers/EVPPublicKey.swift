import CCrypto
import CGatewayShims

/// OpenSSL 3 public keys built from JWK parameters, and SHA-256 signature checks with them. Every
/// failure clears OpenSSL's error queue so that nothing stale is left for the next caller.
enum EVPPublicKey {
    /// An RSA public key from its big-endian modulus and exponent; the caller frees it.
    static func rsa(n: [UInt8], e: [UInt8]) -> OpaquePointer? {
        guard let modulus = BN_bin2bn(n, Int32(n.count), nil) else { return failed() }
        defer { BN_free(modulus) }
        guard let exponent = BN_bin2bn(e, Int32(e.count), nil) else { return failed() }
        defer { BN_free(exponent) }
        // The builder keeps pointers to the names until `to_param`, so they must outlive it.
        return withCStrings([OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E]) { names in
            fromData(type: "RSA") { builder in
                OSSL_PARAM_BLD_push_BN(builder, names[0], modulus) == 1
                    && OSSL_PARAM_BLD_push_BN(builder, names[1], exponent) == 1
            }
        }
    }

    /// A P-256 public key from its affine coordinates (32 bytes each); nil for a point not on the
    /// curve. The caller frees it.
    static func p256(x: [UInt8], y: [UInt8]) -> OpaquePointer? {
        let point: [UInt8] = [0x04] + x + y  // SEC 1 uncompressed
        return withCStrings([OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", OSSL_PKEY_PARAM_PUB_KEY]) { s in
            point.withUnsafeBufferPointer { p in
                fromData(type: "EC") { builder in
                    OSSL_PARAM_BLD_push_utf8_string(builder, s[0], s[1], 0) == 1
                        && OSSL_PARAM_BLD_push_octet_string(builder, s[2], p.baseAddress, p.count) == 1
                }
            }
        }
    }

    private static func fromData(type: String, _ push: (OpaquePointer) -> Bool) -> OpaquePointer? {
        guard let builder = OSSL_PARAM_BLD_new() else { return failed() }
        defer { OSSL_PARAM_BLD_free(builder) }
        guard push(builder), let params = OSSL_PARAM_BLD_to_param(builder) else { return failed() }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, type, nil) else { return failed() }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(ctx) == 1, EVP_PKEY_fromdata(ctx, &key, gw_evp_pkey_public_key_selection(), params) == 1 else {
            return failed()
        }
        return key
    }

    /// Whether `signature` is `key`'s SHA-256 signature of `message`: RSASSA-PKCS1-v1_5 for an RSA
    /// key, DER-encoded ECDSA for an EC key.
    static func verifySHA256(_ key: OpaquePointer, message: [UInt8], signature: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return failed() ?? false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key) == 1,
              EVP_DigestVerify(ctx, signature, signature.count, message, message.count) == 1 else {
            return failed() ?? false
        }
        return true
    }

    /// JWS's raw ECDSA signature (r || s, 32 bytes each for P-256) as the DER `ECDSA-Sig-Value`
    /// OpenSSL verifies; nil for any other length.
    static func derECDSASignature(raw: [UInt8]) -> [UInt8]? {
        guard raw.count == 64, let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s, ECDSA_SIG_set0(sig, r, s) == 1 else {  // set0 owns r and s once it succeeds
            BN_free(r); BN_free(s)
            return failed()
        }
        let length = i2d_ECDSA_SIG(sig, nil)
        guard length > 0 else { return failed() }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_ECDSA_SIG(sig, &cursor)
        }
        return written == length ? der : failed()
    }

    private static func failed<T>() -> T? {
        ERR_clear_error()
        return nil
    }
}
