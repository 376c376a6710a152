import Glibc
@testable import HTTP
import LoopTesting
import Reactor
import Testing

/// A real `HTTPConnection` over one end of a socket pair (no network), driven on the loop: the
/// test writes requests into the other end and reads what comes back.
@Suite struct HTTPConnectionTests {
    /// Servers live as long as the process (their before-sleep hook refers to them).
    @LoopActor static var servers: [HTTPServer] = []

    @LoopActor final class Peer {
        let fd: Int32
        var received: [UInt8] = []
        init(fd: Int32) { self.fd = fd }
        var text: String { String(decoding: received, as: UTF8.self) }
        func send(_ s: String) { _ = Array(s.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        /// Reads what is available (non-blocking); true at end of stream.
        @discardableResult func drain() -> Bool {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 { received += buffer[0..<n]; continue }
                return n == 0
            }
        }
        func close() { Glibc.close(fd) }
    }

    /// A server with `limits` whose responder is `respond`, and a connection to it.
    @LoopActor static func connect(_ limits: HTTPLimits = HTTPLimits(),
                                   _ respond: @escaping @LoopActor (HTTPRequest, ResponseContext) -> Void) -> (HTTPServer, UInt64, Peer) {
        let server = HTTPServer(limits: limits, logger: { _, _ in }, responder: respond)
        servers.append(server)
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let id = server.adopt(fd: fds[0])
        return (server, id, Peer(fd: fds[1]))
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async {
        await onLoop {
            var order: [String] = []
            let (_, _, peer) = Self.connect { request, context in
                order.append(request.path)
                // The first answers later than the second arrives: the second must wait its turn.
                let delay = request.path == "/a" ? 0.02 : 0
                spawn {
                    await sleep(seconds: delay)
                    context.send(HTTPResponse(status: 200, body: Array(request.path.utf8)))
                }
            }
            peer.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await eventually { peer.drain(); return peer.text.components("HTTP/1.1 200").count == 3 })
            let text = peer.text
            #expect(text.firstRange(of: "\r\n\r\n/a") != nil && text.firstRange(of: "\r\n\r\n/b") != nil)
            #expect(text.firstIndex(of: "/a", after: "\r\n\r\n")! < text.lastIndex(of: "/b")!)
            #expect(order == ["/a", "/b"])
            peer.close()
        }
    }

    @Test func aRequestContextIsFreedOnceAnswered() async {
        await onLoop {
            weak var weakContext: ResponseContext?
            let (_, _, peer) = Self.connect { _, context in
                weakContext = context
                context.send(HTTPResponse(status: 204))
            }
            peer.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await eventually { peer.drain(); return peer.text.hasPrefix("HTTP/1.1 204") })
            #expect(await eventually { weakContext == nil }, "the answered request's context outlived it")
            peer.close()
        }
    }

    @Test func aClientThatLeavesMidRequestFreesTheContextAndTheConnection() async {
        await onLoop {
            weak var weakContext: ResponseContext?
            var closed = false
            let (server, id, peer) = Self.connect { _, context in
                weakContext = context
                context.onClose { closed = true }  // never answered
            }
            peer.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await eventually { weakContext != nil })
            peer.close()
            #expect(await eventually { closed }, "the handler did not hear the client leave")
            #expect(await eventually { !server.isOpen(id) })
            #expect(await eventually { weakContext == nil })
        }
    }

    @Test func anIncompleteRequestTimesOutWith408AndCloses() async {
        await onLoop {
            var limits = HTTPLimits()
            limits.requestTimeout = 0.05
            let (server, id, peer) = Self.connect(limits) { _, context in context.send(HTTPResponse(status: 200)) }
            peer.send("GET /slow HTTP/1.1\r\nHost: x\r\n")  // never finished
            #expect(await eventually { peer.drain() })  // closed by the server
            #expect(peer.text.hasPrefix("HTTP/1.1 408"))
            #expect(!server.isOpen(id))
            peer.close()
        }
    }

    @Test func anIdleKeptAliveConnectionIsClosed() async {
        await onLoop {
            var limits = HTTPLimits()
            limits.idleTimeout = 0.05
            let (server, id, peer) = Self.connect(limits) { _, context in context.send(HTTPResponse(status: 200)) }
            peer.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await eventually { peer.drain() })
            #expect(peer.text.hasPrefix("HTTP/1.1 200"))
            #expect(!server.isOpen(id))
            peer.close()
        }
    }

    @Test func connectionCloseIsHonouredAfterTheResponse() async {
        await onLoop {
            let (server, id, peer) = Self.connect { _, context in context.send(HTTPResponse(status: 200)) }
            peer.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(await eventually { peer.drain() })
            #expect(peer.text.contains("Connection: close"))
            #expect(!server.isOpen(id))
            peer.close()
        }
    }

    @Test func aStreamIsChunkedAndTheConnectionReusable() async {
        await onLoop {
            let (_, _, peer) = Self.connect { request, context in
                if request.path == "/stream" {
                    let stream = context.startStream(headers: [("Content-Type", "text/event-stream")])
                    stream.write(Array("data: 1\n\n".utf8))
                    stream.end()
                } else {
                    context.send(HTTPResponse(status: 200, body: Array("after".utf8)))
                }
            }
            peer.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await eventually { peer.drain(); return peer.text.hasSuffix("after") })
            #expect(peer.text.contains("Transfer-Encoding: chunked"))
            #expect(peer.text.contains("9\r\ndata: 1\n\n\r\n0\r\n\r\n"))
            peer.close()
        }
    }
}

extension String {
    fileprivate func components(_ separator: String) -> [Substring] {
        var out: [Substring] = []
        var rest = self[...]
        while let r = rest.firstRange(of: separator) {
            out.append(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return out
    }

    fileprivate func firstIndex(of s: String, after marker: String) -> String.Index? {
        guard let m = firstRange(of: marker) else { return nil }
        return self[m.upperBound...].firstRange(of: s)?.lowerBound
    }

    fileprivate func lastIndex(of s: String) -> String.Index? {
        var found: String.Index?
        var rest = self[...]
        while let r = rest.firstRange(of: s) {
            found = r.lowerBound
            rest = rest[r.upperBound...]
        }
        return found
    }
}
