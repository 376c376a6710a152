/// Why TLS with a downstream failed, worded for the operator: the admin API shows it on a 502
/// (`POST /register`, `PUT /update`), health checks and calls log it. Built from what OpenSSL
/// reports — the chain's verify result and the first queued error's reason — by pure rules.
public struct TLSFailure: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The chain did not verify (unknown issuer, expired, self-signed, ...).
        case certificate
        /// The chain verified but does not name the host (or address) the URL names.
        case hostname
        /// The handshake failed otherwise (an alert, not TLS at all, no common version).
        case handshake
        /// The server closed the connection before the handshake finished.
        case closed
        /// TLS failed after the handshake (a bad record, an alert).
        case session
    }

    public let kind: Kind
    public let description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    // X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
    // (x509_vfy.h); spelled out here so these rules need no OpenSSL to be tested.
    static let hostnameMismatch = 62, emailMismatch = 63, ipAddressMismatch = 64

    /// The chain's verify result `code` (not 0: X509_V_OK) with OpenSSL's text for it; `peer`
    /// is the name or address the certificate had to match.
    static func verify(code: Int, text: String, peer: String) -> TLSFailure {
        switch code {
        case hostnameMismatch, emailMismatch:
            return TLSFailure(.hostname, "TLS: hostname mismatch (the certificate is not valid for \(peer))")
        case ipAddressMismatch:
            return TLSFailure(.hostname, "TLS: IP address mismatch (the certificate is not valid for \(peer))")
        default:
            return TLSFailure(.certificate, "TLS: certificate verify failed (\(text))")
        }
    }

    /// A handshake that failed with no verify error: `reason` is the first queued error's reason.
    static func handshake(reason: String?) -> TLSFailure {
        guard let reason else { return TLSFailure(.handshake, "TLS: handshake failed") }
        if reason == "wrong version number" || reason == "packet length too long" || reason == "record layer failure" {
            return TLSFailure(.handshake, "TLS: handshake failed (\(reason): is the server speaking https?)")
        }
        return TLSFailure(.handshake, "TLS: handshake failed (\(reason))")
    }

    static let closedDuringHandshake = TLSFailure(.closed, "TLS: the server closed the connection during the handshake")

    static func session(reason: String?) -> TLSFailure {
        TLSFailure(.session, "TLS: \(reason ?? "connection failed")")
    }
}
