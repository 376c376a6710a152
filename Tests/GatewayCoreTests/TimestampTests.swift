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

@Suite struct TimestampParseTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", 0 as Int64?), ("2025-12-02T19:39:02.123Z", 1_764_704_342_123), ("2000-02-29T00:00:00.5Z", 951_782_400_500),
        ("2026-12-31T23:59:59.99999Z", 1_798_761_599_999), ("2026-01-01T02:00:00+02:00", 1_767_225_600_000), ("2026-01-01T00:00:00-01:30", 1_767_231_000_000),
        ("2026-01-01", nil), ("2026-13-01T00:00:00Z", nil), ("2026-01-01T00:00:00", nil), ("2026-01-01T00:00:00Zx", nil), ("2026-01-01T00:00:00.Z", nil),
    ] as [(String, Int64?)])
    func parsesRFC3339(_ text: String, _ ms: Int64?) {
        #expect(Timestamp.parse(text) == ms, "\(text)")
    }

    @Test func roundTripsTheFormatter() {
        var g = SplitMix64(seed: 3)
        for _ in 0..<500 {
            let ms = Int64(g.next() % 4_000_000_000_000)
            #expect(Timestamp.parse(Timestamp.iso8601(Double(ms) / 1000)) == ms)
        }
    }
}
