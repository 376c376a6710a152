@testable import Drivers
import LoopTesting
import Reactor
import Testing

/// A pending Redis command owns its timeout timer; the timer's handler must not own the command,
/// or every command (one per fence check, one per publish) stays in memory forever.
@Suite struct RedisPendingTests {
    @Test func anAnsweredCommandAndItsTimerAreFreed() async {
        await onLoop {
            var pending: RedisPending? = RedisPending()
            pending!.armTimeout(30)
            weak var weakPending = pending
            weak var weakTimer = pending!.timer
            pending!.finish(.success(.status("OK")))
            pending = nil
            #expect(weakPending == nil, "the command outlived its answer")
            #expect(weakTimer == nil)
        }
    }

    @Test func aTimedOutCommandFailsOnceAndIsFreed() async throws {
        let outcome = await onLoop { () -> String in
            var pending: RedisPending? = RedisPending()
            weak var weakPending = pending
            let result: String
            do {
                _ = try await withCheckedThrowingContinuation { (c: CheckedContinuation<RedisReply, any Error>) in
                    pending!.continuation = c
                    pending!.armTimeout(0.01)
                }
                result = "answered"
            } catch RedisError.timeout {
                result = "timeout"
            } catch {
                result = "\(error)"
            }
            pending!.finish(.success(.status("late")))  // a late reply after the timeout: ignored
            pending = nil
            return weakPending == nil ? result : "leaked"
        }
        #expect(outcome == "timeout")
    }
}
