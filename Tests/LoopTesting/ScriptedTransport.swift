import Drivers
import GatewayCore
import Reactor

/// An `HTTPTransport` that answers from a script instead of the network: each request goes to
/// `respond`, which returns a reply at once or `nil` to hold the request open until the test
/// completes or the caller cancels it.
@LoopActor
public final class ScriptedTransport: HTTPTransport {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        /// Body pieces, delivered one `onData` call each.
        public var chunks: [[UInt8]]

        public init(status: Int = 200, headers: [(name: String, value: String)] = [], chunks: [[UInt8]] = []) {
            self.status = status
            self.headers = headers
            self.chunks = chunks
        }

        public static func json(_ body: String, headers: [(name: String, value: String)] = []) -> Reply {
            Reply(status: 200, headers: [("content-type", "application/json")] + headers, chunks: [Array(body.utf8)])
        }

        public static func sse(_ events: [String]) -> Reply {
            Reply(status: 200, headers: [("content-type", "text/event-stream")],
                  chunks: events.map { Array("event: message\ndata: \($0)\n\n".utf8) })
        }

        public static let accepted = Reply(status: 202)
    }

    public typealias Script = @LoopActor (OutgoingRequest) -> Reply?

    private struct Held {
        let request: OutgoingRequest
        let onHead: ((IncomingHead) -> Void)?
        let onData: (([UInt8]) -> Void)?
        let continuation: CheckedContinuation<IncomingResponse, any Error>
    }

    public var respond: Script
    public private(set) var requests: [OutgoingRequest] = []
    private var held: [UInt: Held] = [:]
    private var nextKey: UInt = 0

    public init(_ respond: @escaping Script) { self.respond = respond }

    /// Requests waiting for `complete` or cancellation.
    public var heldCount: Int { held.count }
    public var heldRequests: [OutgoingRequest] { held.keys.sorted().compactMap { held[$0]?.request } }

    public func perform(_ request: OutgoingRequest, onHead: ((IncomingHead) -> Void)?,
                        onData: (([UInt8]) -> Void)?, handle: ((TransferHandle) -> Void)?) async throws -> IncomingResponse {
        requests.append(request)
        nextKey += 1
        let key = nextKey
        handle?(TransferHandle(transport: self, key: UnsafeMutableRawPointer(bitPattern: key)!, serial: UInt64(key)))
        if let reply = respond(request) { return Self.deliver(reply, onHead: onHead, onData: onData) }
        return try await withCheckedThrowingContinuation { c in
            held[key] = Held(request: request, onHead: onHead, onData: onData, continuation: c)
        }
    }

    /// Answers the oldest held request with `reply`. Returns false when none is held.
    @discardableResult
    public func complete(with reply: Reply) -> Bool {
        guard let key = held.keys.min(), let h = held.removeValue(forKey: key) else { return false }
        h.continuation.resume(returning: Self.deliver(reply, onHead: h.onHead, onData: h.onData))
        return true
    }

    /// Sends body pieces on the oldest held request without completing it (progress, say).
    public func stream(_ chunk: [UInt8], head: IncomingHead) {
        guard let key = held.keys.min(), let h = held[key] else { return }
        h.onHead?(head)
        h.onData?(chunk)
    }

    /// Fails the oldest held request as a broken connection would.
    public func fail(_ error: TransferError) {
        guard let key = held.keys.min(), let h = held.removeValue(forKey: key) else { return }
        h.continuation.resume(throwing: error)
    }

    public func cancel(_ handle: TransferHandle) {
        guard let h = held.removeValue(forKey: UInt(handle.serial)) else { return }
        h.continuation.resume(throwing: TransferError.cancelled)
    }

    private static func deliver(_ reply: Reply, onHead: ((IncomingHead) -> Void)?, onData: (([UInt8]) -> Void)?) -> IncomingResponse {
        let head = IncomingHead(status: reply.status, headers: reply.headers)
        onHead?(head)
        if let onData {
            for chunk in reply.chunks { onData(chunk) }
            return IncomingResponse(head: head, body: [])
        }
        return IncomingResponse(head: head, body: Array(reply.chunks.joined()))
    }
}
