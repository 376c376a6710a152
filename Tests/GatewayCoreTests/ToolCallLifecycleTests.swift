import Testing
@testable import GatewayCore

@Suite struct ToolCallLifecycleTests {
    /// Everything that can happen to a call, as the relay reports it.
    enum Event: CaseIterable {
        case forwarded, progress, result, rpcError, unavailable, transportTimeout, deadline, cancelled, disconnected, sessionEnded

        var isTerminal: Bool { self != .forwarded && self != .progress }

        func apply(_ m: inout ToolCallLifecycle) -> ToolCallLifecycle.Action? {
            switch self {
            case .forwarded: m.forwarded(downstreamID: 7); return nil
            case .progress: return m.progressReceived()
            case .result: return m.resultReceived()
            case .rpcError: return m.downstreamFailed(.rpc(code: -32000, message: "boom"))
            case .unavailable: return m.downstreamFailed(.unavailable("downstream unreachable: refused"))
            case .transportTimeout: return m.downstreamFailed(.timeout)
            case .deadline: return m.deadlinePassed()
            case .cancelled: return m.cancelledByClient(reason: "user")
            case .disconnected: return m.clientDisconnected()
            case .sessionEnded: return m.sessionEnded()
            }
        }

        /// What the first terminal event must produce, given whether the request had gone out.
        func expected(forwarded: Bool) -> ToolCallLifecycle.Action {
            let id: Int? = forwarded ? 7 : nil
            switch self {
            case .result: return .finish(.result, .ok, abort: nil)
            case .rpcError: return .finish(.error(code: -32000, message: "boom"), .error, abort: nil)
            case .unavailable:
                return .finish(.error(code: JSONRPCCode.downstreamUnavailable, message: "Service weather is unavailable: downstream unreachable: refused"), .error, abort: nil)
            case .transportTimeout:
                return .finish(.error(code: JSONRPCCode.downstreamTimeout, message: "Tool call to service weather timed out"), .timeout, abort: nil)
            case .deadline:
                return .finish(.error(code: JSONRPCCode.downstreamTimeout, message: "Tool call to service weather timed out after 30s"), .timeout,
                               abort: .init(downstreamID: id, reason: "timeout"))
            case .cancelled: return .finish(.nothing, .cancelled, abort: .init(downstreamID: id, reason: "user"))
            case .disconnected: return .finish(.nothing, .cancelled, abort: .init(downstreamID: id, reason: "client disconnected"))
            case .sessionEnded: return .finish(.nothing, .cancelled, abort: .init(downstreamID: id, reason: "session ended"))
            case .forwarded, .progress: fatalError("not terminal")
            }
        }
    }

    /// All orders of `events` (each at most once).
    static func permutations(_ events: [Event]) -> [[Event]] {
        if events.count <= 1 { return [events] }
        var out: [[Event]] = []
        for (i, e) in events.enumerated() {
            var rest = events
            rest.remove(at: i)
            for p in permutations(rest) { out.append([e] + p) }
        }
        return out
    }

    /// Whatever the order, the call finishes exactly once, as its first terminal event says;
    /// progress passes only before that; the abort carries the downstream id only if it went out.
    @Test(arguments: Event.allCases.filter(\.isTerminal))
    func firstTerminalEventWinsInEveryOrder(_ terminal: Event) {
        let others: [Event] = [.forwarded, .progress, .result, .deadline, .disconnected]
        let events = [terminal] + others.filter { $0 != terminal }
        for order in Self.permutations(events) {
            var m = ToolCallLifecycle(service: "weather", timeout: 30)
            var finishes: [ToolCallLifecycle.Action] = []
            var forwardedBeforeFinish = false
            var firstTerminal: Event?
            for event in order {
                let wasFinished = m.isFinished
                if event == .forwarded && !wasFinished { forwardedBeforeFinish = true }
                guard let action = event.apply(&m) else { continue }
                switch action {
                case .finish:
                    finishes.append(action)
                    #expect(!wasFinished, "finished twice: \(order)")
                case .relayProgress:
                    #expect(event == .progress && !wasFinished, "\(order)")
                case .ignore:
                    #expect(wasFinished || event == .progress, "\(order)")
                }
                if event.isTerminal && firstTerminal == nil { firstTerminal = event }
            }
            #expect(finishes.count == 1, "\(order)")
            if let first = firstTerminal, let action = finishes.first {
                #expect(action == first.expected(forwarded: forwardedBeforeFinish), "\(order)")
            }
            #expect(m.isFinished)
        }
    }

    @Test func progressIsRelayedWhileWaitingOnly() {
        var m = ToolCallLifecycle(service: "s", timeout: 1)
        #expect(m.progressReceived() == .relayProgress)
        m.forwarded(downstreamID: 3)
        #expect(m.progressReceived() == .relayProgress)
        _ = m.resultReceived()
        #expect(m.progressReceived() == .ignore)
    }

    @Test func aRetriedRequestIsAbortedUnderItsLatestID() {
        var m = ToolCallLifecycle(service: "s", timeout: 1)
        m.forwarded(downstreamID: 3)
        m.forwarded(downstreamID: 9)  // the downstream restarted; the request went out again
        #expect(m.clientDisconnected() == .finish(.nothing, .cancelled, abort: .init(downstreamID: 9, reason: "client disconnected")))
        m.forwarded(downstreamID: 11)  // too late: finished calls keep their state
        #expect(m.state == .finished(.cancelled))
    }

    @Test func aCancellationWithoutReasonSaysWhoCancelled() {
        var m = ToolCallLifecycle(service: "s", timeout: 1)
        #expect(m.cancelledByClient(reason: nil) == .finish(.nothing, .cancelled, abort: .init(downstreamID: nil, reason: "cancelled by the client")))
    }

    @Test(arguments: [(30.0, "30"), (0.5, "0.5"), (2.25, "2.25"), (0, "0")])
    func timeoutMessagesNameTheDeadline(_ timeout: Double, _ text: String) {
        var m = ToolCallLifecycle(service: "svc", timeout: timeout)
        #expect(m.deadlinePassed() == .finish(.error(code: JSONRPCCode.downstreamTimeout, message: "Tool call to service svc timed out after \(text)s"),
                                              .timeout, abort: .init(downstreamID: nil, reason: "timeout")))
    }
}
