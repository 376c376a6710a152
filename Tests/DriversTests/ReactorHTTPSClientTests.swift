@testable import Drivers
import GatewayCore
import Glibc
import HTTP
import LoopTesting
import Reactor
import Testing

/// The reactor's HTTP client over TLS on loopback: the gateway's own test server behind
/// `TLSTestServer`. One handshake per kept-alive connection, streamed bodies, a connection the
/// server closed replaced (and resumed), verification failures worded for the operator, the
/// handshake under the connect timeout, cancellation; host names resolved (a scripted resolver).
@Suite struct ReactorHTTPSClientTests {
    /// A TLS front for the plain test server (whose idle connections close after `idleTimeout`).
    @LoopActor static func server(idleTimeout: Double = 60, certificate: String = "server") throws -> TLSTestServer {
        let plain = try ReactorHTTPClientTests.base(idleTimeout: idleTimeout)
        let port = Int(plain.split(separator: ":").last!)!
        return TLSTestServer(upstreamPort: port, certificate: certificate)
    }

    /// A client of its own over one of the shared contexts.
    @LoopActor static func client(trustingTestCA: Bool = true) throws -> ReactorHTTPClient {
        ReactorHTTPClient(tls: trustingTestCA ? TLSFixtures.trusting : TLSFixtures.systemOnly)
    }

    @LoopActor static func echoRoute() {
        ReactorHTTPClientTests.routes["/echo"] = { request, context in
            context.send(HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: request.body))
        }
    }

    @Test func manyRequestsShareOneConnectionAndOneHandshake() async throws {
        let counts = try await onLoop { () -> [Int] in
            Self.echoRoute()
            let server = try Self.server()
            let client = try Self.client()
            for i in 0..<20 {
                let response = try await client.perform(ReactorHTTPClientTests.request("https://localhost:\(server.port)/echo", body: #"{"n":\#(i)}"#))
                #expect(response.head.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self) == #"{"n":\#(i)}"#)
            }
            #expect(server.serverNames == ["localhost"], "SNI names the host")
            #expect(server.protocols == ["http/1.1"], "ALPN agreed on http/1.1")
            return [client.connectionsOpened, server.accepted, server.fullHandshakes, client.tlsHandshakes, client.idleConnectionCount]
        }
        #expect(counts == [1, 1, 1, 1, 1])
    }

    @Test func aStreamedBodyArrivesAsItIsSent() async throws {
        let chunks = try await onLoop { () -> [String] in
            ReactorHTTPClientTests.serveStream(at: "/tls-stream")
            let server = try Self.server()
            let client = try Self.client()
            var chunks: [String] = []
            let url = "https://127.0.0.1:\(server.port)/tls-stream"
            let response = try await client.perform(ReactorHTTPClientTests.request(url), onHead: nil,
                                                    onData: { chunks.append(String(decoding: $0, as: UTF8.self)) }, handle: nil)
            #expect(response.body.isEmpty)
            #expect(chunks.count >= 2, "delivered as it arrived, not at the end")
            let again = try await client.perform(ReactorHTTPClientTests.request(url))
            #expect(String(decoding: again.body, as: UTF8.self).hasPrefix("data: 0"))
            #expect(client.connectionsOpened == 1, "reused after a chunked body")
            return chunks
        }
        #expect(chunks.joined() == (0..<5).map { "data: \($0)\n\n" }.joined())
    }

    /// The server closes the idle connection (close_notify, then FIN): the next request opens a
    /// new one, which resumes the TLS session instead of a full handshake.
    @Test func aConnectionClosedWhileIdleIsReplacedAndResumes() async throws {
        let counts = try await onLoop { () -> [Int] in
            Self.echoRoute()
            let server = try Self.server(idleTimeout: 0.3)
            let client = try Self.client()
            let url = "https://localhost:\(server.port)/echo"
            _ = try await client.perform(ReactorHTTPClientTests.request(url, body: "1"))
            #expect(await eventually { client.idleConnectionCount == 0 }, "the close was noticed while idle")
            let response = try await client.perform(ReactorHTTPClientTests.request(url, body: "2"))
            #expect(String(decoding: response.body, as: UTF8.self) == "2")
            return [client.connectionsOpened, client.tlsHandshakes, client.tlsResumptions, server.fullHandshakes, server.resumedHandshakes]
        }
        #expect(counts == [2, 1, 1, 1, 1])
    }

    @Test func aSlowAnswerTimesOutAndTheConnectionIsNotReused() async throws {
        let outcome = try await onLoop { () -> String in
            Self.echoRoute()
            ReactorHTTPClientTests.routes["/tls-never"] = { _, _ in }
            let server = try Self.server()
            let client = try Self.client()
            _ = try await client.perform(ReactorHTTPClientTests.request("https://localhost:\(server.port)/echo"))
            do {
                _ = try await client.perform(ReactorHTTPClientTests.request("https://localhost:\(server.port)/tls-never", timeout: 0.1))
                return "answered"
            } catch TransferError.timeout {
                #expect(client.inFlightCount == 0 && client.openConnectionCount == 0, "a timed-out connection is closed")
                return "timeout"
            }
        }
        #expect(outcome == "timeout")
    }

    /// The pool keeps at most `maxIdlePerOrigin` idle connections per origin; the rest close
    /// cleanly (close_notify) when their response ends.
    @Test func theIdlePoolLimitHoldsForHTTPS() async throws {
        let counts = try await onLoop { () -> [Int] in
            ReactorHTTPClientTests.routes["/tls-slow"] = { request, context in
                spawn {
                    await sleep(seconds: 0.05)
                    context.send(HTTPResponse(status: 200, headers: [], body: request.body))
                }
            }
            let server = try Self.server()
            var limits = ReactorHTTPClient.Limits()
            limits.maxIdlePerOrigin = 2
            let client = ReactorHTTPClient(limits: limits, tls: TLSFixtures.trusting)
            let url = "https://localhost:\(server.port)/tls-slow"
            var tasks: [Task<Void, Never>] = []
            for i in 0..<5 {
                tasks.append(spawn { _ = try? await client.perform(ReactorHTTPClientTests.request(url, body: "\(i)")) })
            }
            for t in tasks { await t.value }
            #expect(await eventually { server.open == 2 }, "the server saw the extra connections close")
            return [client.connectionsOpened, client.idleConnectionCount, client.openConnectionCount]
        }
        #expect(counts == [5, 2, 2])
    }

    @Test func withoutTheCAVerificationFailsWithItsReason() async throws {
        let message = try await onLoop { () -> String in
            let server = try Self.server()
            let client = try Self.client(trustingTestCA: false)
            defer { #expect(client.tlsFailures == 1) }
            do {
                _ = try await client.perform(ReactorHTTPClientTests.request("https://localhost:\(server.port)/echo"))
                return "answered"
            } catch TransferError.connect(let message) {
                return message
            }
        }
        #expect(message == "TLS: certificate verify failed (unable to get local issuer certificate)")
    }

    @Test func aCertificateForAnotherHostIsRefused() async throws {
        let message = try await onLoop { () -> String in
            let server = try Self.server(certificate: "other")
            let client = try Self.client()
            do {
                _ = try await client.perform(ReactorHTTPClientTests.request("https://localhost:\(server.port)/echo"))
                return "answered"
            } catch TransferError.connect(let message) {
                #expect(client.inFlightCount == 0 && client.openConnectionCount == 0)
                return message
            }
        }
        #expect(message == "TLS: hostname mismatch (the certificate is not valid for localhost)")
    }

    /// A server that accepts the connection (the kernel does, from the backlog) but never answers
    /// the ClientHello: the handshake counts against the connect timeout.
    @Test func aHandshakeThatNeverEndsTimesOutUnderTheConnectTimeout() async throws {
        let (message, elapsed) = try await onLoop { () -> (String, Double) in
            let client = try Self.client()
            let (fd, port) = listenOnLoopback()
            defer { Glibc.close(fd) }
            var request = ReactorHTTPClientTests.request("https://127.0.0.1:\(port)/echo", timeout: 10)
            // Long enough that the TCP connect (from the listen backlog) is seen before the deadline
            // even while other tests keep the shared loop busy.
            request.connectTimeout = 1
            let started = EventLoop.clock()
            do {
                _ = try await client.perform(request)
                return ("answered", 0)
            } catch TransferError.connect(let message) {
                #expect(client.openConnectionCount == 0)
                return (message, EventLoop.clock() - started)
            }
        }
        #expect(message == "TLS: handshake timed out")
        #expect(elapsed >= 0.5 && elapsed < 4)
    }

    @Test func aCancelledHandshakeFailsAtOnce() async throws {
        let outcome = try await onLoop { () -> String in
            let (fd, port) = listenOnLoopback()
            defer { Glibc.close(fd) }
            let client = try Self.client()
            var handle: TransferHandle?
            spawn { await sleep(seconds: 0.05); handle?.cancel() }
            do {
                _ = try await client.perform(ReactorHTTPClientTests.request("https://127.0.0.1:\(port)/"), onHead: nil, onData: nil,
                                             handle: { handle = $0 })
                return "answered"
            } catch TransferError.cancelled {
                return client.openConnectionCount == 0 && client.inFlightCount == 0 ? "cancelled" : "left open"
            }
        }
        #expect(outcome == "cancelled")
    }

    @Test func httpsToAPlainServerSaysWhatIsWrong() async throws {
        let message = try await onLoop { () -> String in
            let plain = try ReactorHTTPClientTests.base()
            let client = try Self.client()
            do {
                _ = try await client.perform(ReactorHTTPClientTests.request(plain.replacingPrefix("http://", with: "https://") + "/echo"))
                return "answered"
            } catch TransferError.connect(let message) {
                return message
            }
        }
        #expect(message.hasPrefix("TLS: "), "\(message)")
    }

    /// Host names: looked up when a connection opens (never on the loop; a scripted resolver
    /// here), each address tried in turn.
    @Test func aHostNameIsResolvedAndItsAddressesTriedInTurn() async throws {
        let result = try await onLoop { () -> [String] in
            Self.echoRoute()
            let plain = try ReactorHTTPClientTests.base()
            let port = plain.split(separator: ":").last!
            let client = ReactorHTTPClient()
            var asked: [String] = []
            client.resolve = { name in
                asked.append(name)
                // Nothing listens on 127.0.0.2's port (refused); 127.0.0.1 answers.
                return [PeerAddress(family: .ipv4, address: "127.0.0.2"), PeerAddress(family: .ipv4, address: "127.0.0.1")]
            }
            let response = try await client.perform(ReactorHTTPClientTests.request("http://downstream.test:\(port)/echo", body: "x"))
            _ = try await client.perform(ReactorHTTPClientTests.request("http://downstream.test:\(port)/echo", body: "y"))
            #expect(client.connectionsOpened == 1)
            return asked + [String(decoding: response.body, as: UTF8.self)]
        }
        #expect(result == ["downstream.test", "x"], "one lookup for a kept-alive connection")
    }

    @Test func aNameThatDoesNotResolveIsAConnectError() async throws {
        let message = await onLoop { () -> String in
            let client = ReactorHTTPClient()
            client.resolve = { name in throw HostResolver.Failure(description: "cannot resolve \(name): Name or service not known") }
            do {
                _ = try await client.perform(ReactorHTTPClientTests.request("https://nowhere.test/mcp"))
                return "answered"
            } catch TransferError.connect(let message) {
                return message
            } catch {
                return "\(error)"
            }
        }
        #expect(message == "cannot resolve nowhere.test: Name or service not known")
    }

    @Test func theSystemResolverReadsTheHostsFile() async throws {
        let addresses = try await HostResolver.resolve("localhost")
        #expect(addresses.contains(PeerAddress(family: .ipv4, address: "127.0.0.1")))
        await #expect(throws: HostResolver.Failure.self) { try await HostResolver.resolve("no-such-host.invalid") }
    }

    /// Every connection object is freed once closed (weak references after `closeIdle`).
    @Test func connectionsAreFreedOnceClosed() async throws {
        let freed = try await onLoop { () -> Bool in
            Self.echoRoute()
            let server = try Self.server()
            let client = try Self.client()
            _ = try await client.perform(ReactorHTTPClientTests.request("https://localhost:\(server.port)/echo", body: "1"))
            weak let connection = client.idleConnections.first
            #expect(connection != nil)
            client.closeIdle()
            return await eventually { connection == nil }
        }
        #expect(freed)
    }
}

extension String {
    func replacingPrefix(_ prefix: String, with other: String) -> String {
        hasPrefix(prefix) ? other + dropFirst(prefix.count) : self
    }
}
