@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// Health checks and the circuit breaker on the real loop, against a scripted downstream.
@Suite struct DownstreamHealthShellTests {
    static let fastChecks = DownstreamMonitor.Settings(
        interval: 0.05, health: .init(downAfter: 2, degradedLatency: 1), breaker: .init(failureThreshold: 2, coolDown: 0.2))

    @Test func failingCallsOpenTheCircuitAndLaterCallsFailAtOnce() async {
        await onLoop {
            // A cool-down long enough that a busy test loop cannot outlast it before the third call.
            let f = RelayFixture(health: .init(interval: 3600, breaker: .init(failureThreshold: 2, coolDown: 1)))
            f.unavailable = true
            for i in 0..<2 {
                let (sink, _) = f.call(f.request(id: .int(i)))
                #expect(await eventually { sink.isAnswered })
                #expect(sink.responses.first?.json?["error"]?["code"] == .int(JSONRPCCode.downstreamUnavailable))
            }
            let sent = f.transport.requests.count
            let (rejected, context) = f.call(f.request(id: .int(9)))
            #expect(rejected.isAnswered, "an open circuit answers at once")
            let error = rejected.responses.first?.json?["error"]
            #expect(error?["code"] == .int(JSONRPCCode.circuitOpen))
            #expect(error?["data"]?["service"] == .string("svc"))
            #expect((error?["data"]?["retryAfterMs"]?.intValue ?? -1) > 0)
            #expect(f.transport.requests.count == sent, "an open circuit sent something downstream")
            #expect(await eventually { context.isGone })

            // After the cool-down one probe goes; its success closes the circuit.
            f.unavailable = false
            await sleep(seconds: 1.05)
            let (probe, _) = f.call(f.request(id: .int(10)))
            #expect(await eventually { probe.isAnswered })
            #expect(probe.responses.first?.json?["result"] != nil)
            let (after, _) = f.call(f.request(id: .int(11)))
            #expect(await eventually { after.isAnswered })
            #expect(after.responses.first?.json?["result"] != nil)
            #expect(f.pool.monitor.state(of: "svc")?.breaker.state == .closed(consecutiveFailures: 0))
        }
    }

    @Test func checksMarkAQuietDownstreamDownAndHealthyAgain() async {
        await onLoop {
            let f = RelayFixture(health: Self.fastChecks)
            var transitions: [DownstreamHealth.Transition] = []
            f.pool.monitor.onTransition = { _, t in transitions.append(t) }
            f.unavailable = true
            #expect(await eventually { f.pool.monitor.state(of: "svc")?.health.state == .down })
            #expect(f.pool.monitor.state(of: "svc")?.health.lastError?.contains("503") == true)
            f.unavailable = false
            #expect(await eventually { f.pool.monitor.state(of: "svc")?.health.state == .healthy })
            #expect(transitions.map(\.to) == [.degraded, .down, .healthy])
            let pings = f.transport.requests.compactMap { try? JSONParser.parse($0.body) }.filter { $0["method"]?.stringValue == "ping" }
            #expect(!pings.isEmpty)
        }
    }

    /// A successful call counts as a check: it pushes the next check a whole interval away.
    @Test func aSuccessfulCallPostponesTheNextCheck() async {
        await onLoop {
            let f = RelayFixture(health: .init(interval: 60))
            let before = f.pool.monitor.state(of: "svc")!.nextCheckAt
            await sleep(seconds: 0.05)
            let (sink, _) = f.call(f.request())
            #expect(await eventually { sink.isAnswered })
            let service = f.pool.monitor.state(of: "svc")!
            #expect(service.lastSuccessAt >= EventLoop.main.now - 1)
            #expect(service.nextCheckAt >= service.lastSuccessAt + 0.8 * 60)
            #expect(service.nextCheckAt != before)
            let pings = f.transport.requests.compactMap { try? JSONParser.parse($0.body) }.filter { $0["method"]?.stringValue == "ping" }
            #expect(pings.isEmpty)
        }
    }

    @Test func theMonitorForgetsServicesThatLeaveTheSnapshot() async {
        await onLoop {
            let f = RelayFixture()
            #expect(f.pool.monitor.state(of: "svc") != nil)
            f.pool.retain(ToolIndex.empty)
            #expect(f.pool.monitor.state(of: "svc") == nil)
            #expect(f.pool.monitor.admit("svc") == .allow)
        }
    }
}
