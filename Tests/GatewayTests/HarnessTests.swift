import LoopTesting
import Reactor
import Testing

@Suite struct HarnessTests {
    @Test func loopRunsTimers() async {
        let fired = await onLoop { () -> Bool in
            var fired = false
            let timer = Timer { fired = true }
            timer.start(after: 0.002)
            let ok = await eventually { fired }
            withExtendedLifetime(timer) {}
            return ok
        }
        #expect(fired)
    }
}
