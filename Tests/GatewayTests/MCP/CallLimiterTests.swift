import Drivers
@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// Per-service limits on the relay: concurrent calls beyond `maxConcurrent` wait (bounded) for a
/// slot, then run or get -32005; a service's own timeout replaces the default.
@Suite struct CallLimiterTests {
    @LoopActor static func errorCode(_ sink: RecordingSink) -> Int? { sink.responses.first?.json?["error"]?["code"]?.intValue }

    @Test func aCallBeyondTheLimitWaitsAndRunsWhenASlotFrees() async {
        await onLoop {
            let f = RelayFixture(holdCalls: true, limits: ServiceLimits(maxConcurrent: 1), queueWait: 60)
            let (first, firstContext) = f.call(f.request(id: .int(1)))
            let (second, secondContext) = f.call(f.request(id: .int(2)))
            #expect(await eventually { f.transport.heldCount == 1 })
            await sleep(seconds: 0.02)
            #expect(f.sentCallIDs.count == 1, "the second call went out while the first held the only slot")
            #expect(f.relay.limiter.waitingCount("svc") == 1)
            #expect(f.answerHeldCall())
            #expect(await eventually { first.isAnswered && f.transport.heldCount == 1 })
            #expect(f.answerHeldCall())
            #expect(await eventually { second.isAnswered })
            #expect(second.responses.first?.json?["result"] != nil)
            #expect(await eventually { firstContext.isGone && secondContext.isGone })
            #expect(f.relay.limiter.runningCount("svc") == 0 && f.relay.limiter.waitingCount("svc") == 0)
        }
    }

    @Test func aFullQueueRefusesAtOnceWithATypedError() async {
        await onLoop {
            let f = RelayFixture(holdCalls: true, limits: ServiceLimits(maxConcurrent: 1), queueWait: 60)
            let (_, _) = f.call(f.request(id: .int(1)))
            let (_, _) = f.call(f.request(id: .int(2)))  // waits (the queue holds as many as the limit)
            let (third, thirdContext) = f.call(f.request(id: .int(3)))
            #expect(third.isAnswered, "refused synchronously, without waiting")
            #expect(Self.errorCode(third) == JSONRPCCode.serviceBusy)
            let error = third.responses.first?.json?["error"]
            #expect(error?["data"]?["service"] == .string("svc") && error?["data"]?["maxConcurrent"] == .int(1))
            #expect(await eventually { thirdContext.isGone })
            for _ in 0..<2 {
                #expect(await eventually { f.transport.heldCount == 1 })
                #expect(f.answerHeldCall())
            }
            #expect(await eventually { f.relay.limiter.runningCount("svc") == 0 })
        }
    }

    @Test func aWaitThatEndsWithoutASlotIsRefusedAndNeverSent() async {
        await onLoop {
            let f = RelayFixture(holdCalls: true, limits: ServiceLimits(maxConcurrent: 1), queueWait: 0.05)
            let (_, _) = f.call(f.request(id: .int(1)))
            let (second, secondContext) = f.call(f.request(id: .int(2)))
            #expect(await eventually { second.isAnswered })
            #expect(Self.errorCode(second) == JSONRPCCode.serviceBusy)
            #expect(f.sentCallIDs.count == 1)
            #expect(await eventually { secondContext.isGone })
            #expect(await eventually { f.transport.heldCount == 1 })
            #expect(f.answerHeldCall())
            #expect(await eventually { f.relay.limiter.runningCount("svc") == 0 })
            #expect(f.sentCallIDs.count == 1, "the refused call was sent after all")
        }
    }

    @Test func aCallerWhoLeavesWhileWaitingIsForgotten() async {
        await onLoop {
            let f = RelayFixture(holdCalls: true, limits: ServiceLimits(maxConcurrent: 1), queueWait: 60)
            let (_, _) = f.call(f.request(id: .int(1)))
            let (second, secondContext) = f.call(f.request(id: .int(2)))
            second.disconnect()
            #expect(f.relay.limiter.waitingCount("svc") == 0)
            #expect(await eventually { f.transport.heldCount == 1 })
            #expect(f.answerHeldCall())
            #expect(await eventually { f.relay.limiter.runningCount("svc") == 0 })
            await sleep(seconds: 0.02)
            #expect(f.sentCallIDs.count == 1, "the departed caller's call still went out")
            #expect(await eventually { secondContext.isGone })
        }
    }

    @Test func aServicesTimeoutReplacesTheDefault() async {
        await onLoop {
            let f = RelayFixture(holdCalls: true, timeout: 30, limits: ServiceLimits(timeoutMs: 40))
            let started = EventLoop.clock()
            let (sink, context) = f.call(f.request())
            #expect(await eventually(timeout: 15) { sink.isAnswered })
            #expect(EventLoop.clock() - started < 10, "the default (30 s) applied, not the service's 40 ms")
            #expect(Self.errorCode(sink) == JSONRPCCode.downstreamTimeout)
            #expect(await eventually { context.isGone })
        }
    }

    @Test func unlimitedServicesAreNotCounted() async {
        await onLoop {
            let f = RelayFixture(holdCalls: true)
            for i in 0..<20 { _ = f.call(f.request(id: .int(i))) }
            #expect(await eventually { f.transport.heldCount == 20 })
            #expect(f.relay.limiter.runningCount("svc") == 0)
            while f.transport.heldCount > 0 { f.answerHeldCall() }
            #expect(await eventually { f.relay.cancellableCount == 0 && f.transport.heldCount == 0 })
        }
    }
}
