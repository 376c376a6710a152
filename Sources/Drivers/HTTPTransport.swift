import Reactor

/// Outgoing HTTP as the downstream MCP client needs it: one request, its head and body delivered
/// as they arrive, cancellable. `CurlClient` is the transport on the loop; tests put a scripted
/// one in its place to drive the client and the relay without sockets.
@LoopActor
public protocol HTTPTransport: AnyObject {
    /// Performs a request. With `onHead`/`onData`, the head and body chunks are delivered as they
    /// arrive and the returned body is empty. `handle` receives the means to end it early.
    func perform(_ request: OutgoingRequest,
                 onHead: ((IncomingHead) -> Void)?,
                 onData: (([UInt8]) -> Void)?,
                 handle: ((TransferHandle) -> Void)?) async throws -> IncomingResponse

    /// Ends the transfer behind `handle` if it is still running (its `perform` throws
    /// `TransferError.cancelled`); a handle of a finished transfer does nothing, even if its key
    /// was reused since (the serial tells them apart).
    func cancel(_ handle: TransferHandle)
}

extension HTTPTransport {
    public func perform(_ request: OutgoingRequest) async throws -> IncomingResponse {
        try await perform(request, onHead: nil, onData: nil, handle: nil)
    }
}

/// Lets the caller abort a transfer (a client that went away).
@LoopActor
public struct TransferHandle {
    unowned(unsafe) let transport: any HTTPTransport
    public let key: UnsafeMutableRawPointer
    public let serial: UInt64

    public init(transport: any HTTPTransport, key: UnsafeMutableRawPointer, serial: UInt64) {
        self.transport = transport
        self.key = key
        self.serial = serial
    }

    public func cancel() { transport.cancel(self) }
}
