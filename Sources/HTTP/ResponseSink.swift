import Reactor

/// Where a `ResponseContext` delivers its response: the client connection in the server, a
/// recording sink in tests that drive a responder without sockets.
@LoopActor
public protocol ResponseSink: AnyObject {
    /// The connection's id (for logs).
    var id: UInt64 { get }
    var isClosed: Bool { get }
    /// The client's address, for rate limits and audit lines of anonymous clients.
    var peer: String { get }
    func finish(_ context: ResponseContext, response: HTTPResponse)
    func beginStream(_ context: ResponseContext, status: Int, headers: [(name: String, value: String)], stream: ResponseStream)
    func writeChunk(_ bytes: [UInt8])
    func endStream()
}
