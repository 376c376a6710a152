import Testing
@testable import GatewayCore

@Suite struct RecentVersionsTests {
    /// What `first` answers for each version offered, in order.
    private func offer(_ recent: inout RecentVersions, _ versions: [Int64]) -> [Bool] {
        versions.map { recent.first($0) }
    }

    @Test func eachVersionOnce() {
        var recent = RecentVersions(capacity: 4)
        // out of order is still new
        #expect(offer(&recent, [10, 10, 9, 9]) == [true, false, true, false])
    }

    @Test func forgetsTheOldestBeyondCapacity() {
        var recent = RecentVersions(capacity: 2)
        #expect(offer(&recent, [1, 2, 3, 3, 2]) == [true, true, true, false, false])
        #expect(offer(&recent, [1]) == [true])  // forgotten, so new again
    }
}
