import CCrypto
import CGatewayShims
@testable import Drivers
import LoopTesting
import Reactor
import Testing

/// The TLS engine as an event sequence, without sockets: a client engine and a server engine pass
/// their records to each other in pieces of any size, so the handshake, verification, resumption
/// and close_notify are exercised byte by byte.
@Suite struct TLSEngineTests {
    /// Moves records between the two engines, `piece` bytes at a time, until neither has more to
    /// say; returns what the client's handshake ended as (or `.inProgress`).
    @LoopActor static func converse(_ client: TLSEngine, _ server: TLSEngine, piece: Int = 1 << 20) -> TLSEngine.Step {
        var clientStep = client.isEstablished ? TLSEngine.Step.established : client.handshake()
        for _ in 0..<10_000 {
            var toServer: [UInt8] = []
            client.takeOutput(into: &toServer)
            var toClient: [UInt8] = []
            if !toServer.isEmpty {
                for chunk in toServer.chunked(piece) {
                    chunk.withUnsafeBytes { server.receive($0) }
                    if !server.isEstablished, case .failed = server.handshake() { break }
                }
            }
            server.takeOutput(into: &toClient)
            if toServer.isEmpty && toClient.isEmpty { break }
            for chunk in toClient.chunked(piece) {
                chunk.withUnsafeBytes { client.receive($0) }
                if !client.isEstablished { clientStep = client.handshake() }
                if case .failed = clientStep { return clientStep }
            }
        }
        return clientStep
    }

    @LoopActor static func clientContext(trustingTestCA: Bool = true) throws -> TLSClientContext {
        trustingTestCA ? TLSFixtures.trusting : TLSFixtures.systemOnly
    }

    /// A client engine for `host` (a name, or an IPv4 address) and port.
    @LoopActor static func client(_ context: TLSClientContext, _ host: String, _ port: Int = 443) throws -> TLSEngine {
        let isAddress = host.allSatisfy { $0.isNumber || $0 == "." }
        return try TLSEngine(client: context, serverName: isAddress ? nil : host, ipAddress: isAddress ? host : nil,
                             sessionKey: "\(host):\(port)")
    }

    /// Everything `engine` has to read, as text.
    @LoopActor static func readAll(_ engine: TLSEngine) -> (String, TLSEngine.ReadOutcome) {
        var text: [UInt8] = []
        let outcome = engine.read { text += $0; return true }
        return (String(decoding: text, as: UTF8.self), outcome)
    }

    @Test(arguments: [1, 7, 1 << 20])
    func handshakeAndDataBothWaysInPiecesOfAnySize(_ piece: Int) async throws {
        let result = try await onLoop { () -> [String] in
            let server = makeServerEngine(makeServerContext())
            let client = try Self.client(try Self.clientContext(), "localhost", 8443)
            #expect(Self.converse(client, server, piece: piece) == .established)
            #expect(server.isEstablished)
            #expect(client.send(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == nil)
            _ = Self.converse(client, server, piece: piece)
            let (request, _) = Self.readAll(server)
            #expect(server.send(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)) == nil)
            _ = Self.converse(client, server, piece: piece)
            let (response, outcome) = Self.readAll(client)
            #expect(outcome == .open)
            return [request, response, client.alpn ?? "none", client.version]
        }
        #expect(result == ["GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", "http/1.1", "TLSv1.3"])
    }

    @Test func aChainFromAnUnknownIssuerFailsVerification() async throws {
        let step = try await onLoop { () -> TLSEngine.Step in
            let server = makeServerEngine(makeServerContext())
            let client = try Self.client(try Self.clientContext(trustingTestCA: false), "localhost")
            return Self.converse(client, server)
        }
        guard case .failed(let failure) = step else { Issue.record("handshake ended as \(step)"); return }
        #expect(failure.kind == .certificate)
        #expect(failure.description == "TLS: certificate verify failed (unable to get local issuer certificate)")
    }

    @Test func aCertificateForAnotherNameIsAHostnameMismatch() async throws {
        let step = try await onLoop { () -> TLSEngine.Step in
            let server = makeServerEngine(makeServerContext(certificate: "other"))
            let client = try Self.client(try Self.clientContext(), "localhost", 8443)
            return Self.converse(client, server)
        }
        #expect(step == .failed(TLSFailure(.hostname, "TLS: hostname mismatch (the certificate is not valid for localhost)")))
    }

    @Test func anAddressIsMatchedAsAnAddress() async throws {
        let steps = try await onLoop { () -> [TLSEngine.Step] in
            let context = try Self.clientContext()
            let good = try Self.client(context, "127.0.0.1", 8443)
            let bad = try Self.client(context, "10.9.8.7", 8443)
            let ctx = makeServerContext()
            return [Self.converse(good, makeServerEngine(ctx)), Self.converse(bad, makeServerEngine(ctx))]
        }
        #expect(steps[0] == .established)
        #expect(steps[1] == .failed(TLSFailure(.hostname, "TLS: IP address mismatch (the certificate is not valid for 10.9.8.7)")))
    }

    /// SNI carries a host name, never an address (RFC 6066 §3).
    @Test func sniNamesTheHostButNotAnAddress() async throws {
        let names = try await onLoop { () -> [String] in
            let context = try Self.clientContext()
            var seen: [String] = []
            for (host, certificate) in [("other.example", "other"), ("127.0.0.1", "server")] {
                let server = makeServerEngine(makeServerContext(certificate: certificate))
                let client = try Self.client(context, host)
                #expect(Self.converse(client, server) == .established)
                seen.append(SSL_get_servername(server.ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) } ?? "none")
            }
            return seen
        }
        #expect(names == ["other.example", "none"])
    }

    /// A TLS 1.3 ticket arrives after the handshake; the next connection to the same origin
    /// resumes with it (and gets a new one), another origin does not.
    @Test func aSecondConnectionToTheOriginResumes() async throws {
        let resumed = try await onLoop { () -> [Bool] in
            let context = try Self.clientContext()
            let ctx = makeServerContext()
            var out: [Bool] = []
            for (host, port) in [("localhost", 1), ("localhost", 1), ("localhost", 1), ("127.0.0.1", 1)] {
                let server = makeServerEngine(ctx)
                let client = try Self.client(context, host, port)
                #expect(Self.converse(client, server) == .established)
                _ = Self.readAll(client)  // the tickets
                out.append(client.resumed)
                client.shutdown()  // an orderly close: OpenSSL keeps the session resumable
            }
            return out
        }
        #expect(resumed == [false, true, true, false])
    }

    /// A server sends two tickets per connection: after one connection, two of a burst of three
    /// new ones resume, each with a ticket of its own.
    @Test func aBurstOfNewConnectionsResumesWithTheTicketsKept() async throws {
        let resumed = try await onLoop { () -> [Bool] in
            let context = try Self.clientContext()
            let ctx = makeServerContext()
            let first = try Self.client(context, "localhost", 5)
            #expect(Self.converse(first, makeServerEngine(ctx)) == .established)
            _ = Self.readAll(first)
            first.shutdown()
            let burst = try (0..<3).map { _ in try Self.client(context, "localhost", 5) }
            return burst.map { client in
                #expect(Self.converse(client, makeServerEngine(ctx)) == .established)
                return client.resumed
            }
        }
        #expect(resumed == [true, true, false])
    }

    /// A connection dropped without close_notify (a failure, for OpenSSL) has its session marked
    /// bad: TLS 1.3 — the ticket that was its session is skipped, the earlier ticket of that
    /// connection resumes; TLS 1.2 — its one session is gone.
    @Test(arguments: [(nil, [false, true]), (TLS1_2_VERSION, [false, false])] as [(Int32?, [Bool])])
    func aSessionMarkedBadByADroppedConnectionIsNotOffered(_ maxVersion: Int32?, _ expected: [Bool]) async throws {
        let resumed = try await onLoop { () -> [Bool] in
            let context = try Self.clientContext()
            let ctx = makeServerContext(maxVersion: maxVersion)
            var out: [Bool] = []
            for _ in 0..<2 {
                let client = try Self.client(context, "localhost", maxVersion == nil ? 4 : 6)
                #expect(Self.converse(client, makeServerEngine(ctx)) == .established)
                _ = Self.readAll(client)
                out.append(client.resumed)
            }
            return out
        }
        #expect(resumed == expected)
    }

    @Test func tls12SessionsAreResumedToo() async throws {
        let result = try await onLoop { () -> [String] in
            let context = try Self.clientContext()
            let ctx = makeServerContext(maxVersion: TLS1_2_VERSION)
            var out: [String] = []
            for _ in 0..<3 {
                let client = try Self.client(context, "localhost", 2)
                #expect(Self.converse(client, makeServerEngine(ctx)) == .established)
                out.append("\(client.version) \(client.resumed)")
                client.shutdown()
            }
            return out
        }
        #expect(result == ["TLSv1.2 false", "TLSv1.2 true", "TLSv1.2 true"])
    }

    @Test func protocolsOlderThanTLS12AreRefused() async throws {
        let step = try await onLoop { () -> TLSEngine.Step in
            let client = try Self.client(try Self.clientContext(), "localhost")
            return Self.converse(client, makeServerEngine(makeServerContext(maxVersion: TLS1_1_VERSION)))
        }
        guard case .failed(let failure) = step else { Issue.record("handshake ended as \(step)"); return }
        #expect(failure.kind == .handshake)
        #expect(failure.description.hasPrefix("TLS: handshake failed ("), "\(failure)")
    }

    @Test func plainHTTPWhereTLSWasExpectedSaysSo() async throws {
        let step = try await onLoop { () -> TLSEngine.Step in
            let client = try Self.client(try Self.clientContext(), "localhost")
            _ = client.handshake()
            Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8).withUnsafeBytes { client.receive($0) }
            return client.handshake()
        }
        #expect(step == .failed(TLSFailure(.handshake, "TLS: handshake failed (wrong version number: is the server speaking https?)")))
    }

    @Test func closeNotifyEndsTheStream() async throws {
        let outcome = try await onLoop { () -> TLSEngine.ReadOutcome in
            let server = makeServerEngine(makeServerContext())
            let client = try Self.client(try Self.clientContext(), "localhost")
            #expect(Self.converse(client, server) == .established)
            _ = Self.readAll(client)
            server.shutdown()
            _ = Self.converse(client, server)
            return Self.readAll(client).1
        }
        #expect(outcome == .closed)
    }

    @Test func aReaderCanStopAndReadTheRestLater() async throws {
        let pieces = try await onLoop { () -> [String] in
            let server = makeServerEngine(makeServerContext())
            let client = try Self.client(try Self.clientContext(), "localhost")
            #expect(Self.converse(client, server) == .established)
            _ = Self.readAll(client)
            _ = server.send(Array("first".utf8))
            _ = server.send(Array("second".utf8))
            _ = Self.converse(client, server)
            var got: [String] = []
            #expect(client.read { got.append(String(decoding: $0, as: UTF8.self)); return false } == .stopped)
            #expect(client.read { got.append(String(decoding: $0, as: UTF8.self)); return true } == .open)
            return got
        }
        #expect(pieces == ["first", "second"])
    }

    @Test func enginesAreFreedWithTheirConnections() async throws {
        let freed = try await onLoop { () -> Bool in
            let context = try Self.clientContext()
            weak var weakClient: TLSEngine?
            weak var weakServer: TLSEngine?
            do {
                let server = makeServerEngine(makeServerContext())
                let client = try Self.client(context, "localhost", 3)
                weakClient = client
                weakServer = server
                _ = Self.converse(client, server)
                _ = Self.readAll(client)
            }
            return weakClient == nil && weakServer == nil && context.hasSession(for: "localhost:3")
        }
        #expect(freed)
    }
}

@Suite struct TLSContextTests {
    @Test func anUnreadableCAFileIsRefused() async {
        let message = await onLoop { () -> String in
            do { _ = try TLSClientContext(caFile: "/nonexistent/ca.pem"); return "accepted" } catch { return "\(error)" }
        }
        #expect(message == "cannot read /nonexistent/ca.pem: No such file or directory")
    }

    /// A context outlives its engines and no more: it and its cached sessions are freed after the last one.
    @Test func aContextIsFreedAfterItsEngines() async throws {
        let freed = try await onLoop { () -> Bool in
            weak var weakContext: TLSClientContext?
            do {
                let context = try TLSClientContext(caFile: TLSFixtures.path("ca.pem"))
                weakContext = context
                let client = try TLSEngineTests.client(context, "localhost", 7)
                #expect(TLSEngineTests.converse(client, makeServerEngine(makeServerContext())) == .established)
                _ = TLSEngineTests.readAll(client)
                client.shutdown()
                #expect(context.hasSession(for: "localhost:7"))
            }
            return weakContext == nil
        }
        #expect(freed)
    }

    @Test(arguments: ["not a certificate\n", "", TLSFixtures.serverKey + "\n"])
    func aFileWithoutCertificatesIsRefused(_ contents: String) async {
        let path = TLSFixtures.write(contents, as: "bad-\(contents.count).pem")
        let message = await onLoop { () -> String in
            do { _ = try TLSClientContext(caFile: path); return "accepted" } catch { return "\(error)" }
        }
        #expect(message.hasPrefix("\(path) holds no usable PEM certificate ("), "\(message)")
    }
}

@Suite struct TLSFailureTests {
    @Test func verifyResultsAreWorded() {
        #expect(TLSFailure.verify(code: 20, text: "unable to get local issuer certificate", peer: "a").description
                == "TLS: certificate verify failed (unable to get local issuer certificate)")
        #expect(TLSFailure.verify(code: 10, text: "certificate has expired", peer: "a").kind == .certificate)
        #expect(TLSFailure.verify(code: 62, text: "hostname mismatch", peer: "mcp.example.com")
                == TLSFailure(.hostname, "TLS: hostname mismatch (the certificate is not valid for mcp.example.com)"))
        #expect(TLSFailure.verify(code: 64, text: "IP address mismatch", peer: "10.0.0.1").kind == .hostname)
    }

    /// The constants spelled out in `TLSFailure` are OpenSSL's.
    @Test func theMismatchCodesAreOpenSSLs() {
        #expect(TLSFailure.hostnameMismatch == Int(X509_V_ERR_HOSTNAME_MISMATCH))
        #expect(TLSFailure.emailMismatch == Int(X509_V_ERR_EMAIL_MISMATCH))
        #expect(TLSFailure.ipAddressMismatch == Int(X509_V_ERR_IP_ADDRESS_MISMATCH))
    }

    @Test func handshakeReasonsAreWorded() {
        #expect(TLSFailure.handshake(reason: "tlsv1 alert protocol version").description == "TLS: handshake failed (tlsv1 alert protocol version)")
        #expect(TLSFailure.handshake(reason: nil).description == "TLS: handshake failed")
        #expect(TLSFailure.handshake(reason: "wrong version number").description.hasSuffix("is the server speaking https?)"))
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
