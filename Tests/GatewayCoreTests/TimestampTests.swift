import Testing
@testable import GatewayCore

@Suite struct TimestampTests {
    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_764_704_342.123, "2025-12-02T19:39:02.123Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
        (1_798_761_599.999, "2026-12-31T23:59:59.999Z"),
    ])
    func formatsUTCWithMilliseconds(_ seconds: Double, _ text: String) {
        #expect(Timestamp.iso8601(seconds) == text)
    }
}
