import GatewayCore
import HTTP
import Reactor

/// `GET /events`: a server-sent-event stream for operators (the console reads it). One `registry`
/// event per registry change this replica applies (`{version, previous, action, service}`, each
/// version once however it arrived), one `health` event per downstream health transition it sees
/// (`{service, from, to, at}`), and a `: keepalive` comment every `SSE_KEEPALIVE` seconds.
@LoopActor
final class EventFeed {
    /// Streams beyond this are refused (503): each holds a connection.
    static let maxStreams = 64
    private var streams: [ObjectIdentifier: ResponseStream] = [:]
    private var announced = RecentVersions()
    private let keepAlive = Timer {}
    private static let comment = Array(": keepalive\n\n".utf8)

    init(keepAliveInterval: Double) {
        keepAlive.setHandler { [unowned self] in
            for s in self.streams.values { s.write(Self.comment) }
        }
        keepAlive.start(after: keepAliveInterval, repeating: keepAliveInterval)
    }

    var count: Int { streams.count }

    /// Opens a stream on `context` (the caller checked the key). `hello` is the first event's data.
    func open(_ context: ResponseContext, hello: JSON) {
        guard streams.count < Self.maxStreams else {
            context.send(.error(503, code: "too_many_streams", message: "at most \(Self.maxStreams) event streams per replica"))
            return
        }
        let stream = context.startStream(headers: SSE.headers)
        guard stream.isOpen else { return }
        let key = ObjectIdentifier(stream)
        streams[key] = stream
        stream.onClose { [weak self] in self?.streams[key] = nil }
        stream.write(Self.event("hello", hello))
    }

    /// A registry change this replica is applying; a version already told about is skipped.
    func registryChange(version: Int64, previous: Int64?, action: String, service: String?) {
        guard announced.first(version) else { return }
        send("registry", .object([
            ("version", .number(String(version))), ("previous", previous.map { .number(String($0)) } ?? .null),
            ("action", .string(action)), ("service", service.map { .string($0) } ?? .null),
        ]))
    }

    /// A downstream changed health state here.
    func healthChange(service: String, from: String, to: String) {
        send("health", .object([("service", .string(service)), ("from", .string(from)), ("to", .string(to)),
                                ("at", .string(Timestamp.iso8601(Timestamp.now)))]))
    }

    private func send(_ name: String, _ data: JSON) {
        guard !streams.isEmpty else { return }
        let bytes = Self.event(name, data)
        for s in streams.values { s.write(bytes) }
    }

    /// `event: <name>` and one `data:` line (serialized JSON has no raw newlines).
    static func event(_ name: String, _ data: JSON) -> [UInt8] {
        Array("event: \(name)\ndata: ".utf8) + data.serialized() + Array("\n\n".utf8)
    }
}
