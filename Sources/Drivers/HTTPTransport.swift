import Reactor

/// Outgoing HTTP as the downstream MCP client needs it: one request, its head and body delivered
/// as they arrive, cancellable. `ReactorHTTPClient` is the transport on the loop (http and https);
/// tests put a scripted one in its place to drive the client and the relay without sockets.
@LoopActor
public protocol HTTPTransport: AnyObject {
    /// Performs a request. With `onHead`/`onData`, the head and body chunks are delivered as they
    /// arrive and the returned body is empty. `handle` receives the means to end it early.
    func perform(_ request: OutgoingRequest,
                 onHead: ((IncomingHead) -> Void)?,
                 onData: (([UInt8]) -> Void)?,
                 handle: ((TransferHandle) -> Void)?) async throws -> IncomingResponse

    /// Starts a request and returns at once; `completion` runs once, on the loop, with the response
    /// or the failure (`perform` without a task and a continuation: the relay's path).
    func start(_ request: OutgoingRequest,
               onHead: ((IncomingHead) -> Void)?,
               onData: (([UInt8]) -> Void)?,
               handle: ((TransferHandle) -> Void)?,
               completion: @escaping (Result<IncomingResponse, any Error>) -> Void)

    /// Ends the transfer behind `handle` if it is still running (its `perform` throws
    /// `TransferError.cancelled`); a handle of a finished transfer does nothing, even if its key
    /// was reused since (the serial tells them apart).
    func cancel(_ handle: TransferHandle)
}

extension HTTPTransport {
    public func perform(_ request: OutgoingRequest) async throws -> IncomingResponse {
        try await perform(request, onHead: nil, onData: nil, handle: nil)
    }

    /// `start` through `perform`, for transports that only have the latter (scripted ones in tests).
    public func start(_ request: OutgoingRequest, onHead: ((IncomingHead) -> Void)?, onData: (([UInt8]) -> Void)?,
                      handle: ((TransferHandle) -> Void)?, completion: @escaping (Result<IncomingResponse, any Error>) -> Void) {
        spawn { [self] in
            do { completion(.success(try await self.perform(request, onHead: onHead, onData: onData, handle: handle))) } catch {
                completion(.failure(error))
            }
        }
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

/// An outgoing HTTP request.
public struct OutgoingRequest: Sendable {
    public var method = "POST"
    public var url: String
    public var headers: [(name: String, value: String)] = []
    public var body: [UInt8] = []
    public var timeout: Double
    public var connectTimeout: Double
    public init(url: String, timeout: Double, connectTimeout: Double) {
        self.url = url
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }
}

/// The head of a response, available before its body.
public struct IncomingHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public init(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
    }
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        for h in headers where h.name == lower { return h.value }
        return nil
    }
}

public struct IncomingResponse: Sendable {
    public var head: IncomingHead
    public var body: [UInt8]
    public init(head: IncomingHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

public enum TransferError: Error, CustomStringConvertible, Sendable {
    case connect(String)
    case timeout
    case failed(String)
    case cancelled

    public var description: String {
        switch self {
        case .connect(let m): return "connection failed: \(m)"
        case .timeout: return "timed out"
        case .failed(let m): return "transfer failed: \(m)"
        case .cancelled: return "cancelled"
        }
    }
}

/// One transfer in flight. Body bytes go to `onData` as they arrive (streaming) or are collected.
