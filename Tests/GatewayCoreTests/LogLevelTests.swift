import Testing
@testable import GatewayCore

@Suite struct LogLevelTests {
    @Test func levelsAreOrdered() {
        let levels: [LogLevel] = [.trace, .debug, .info, .warn, .error]
        #expect(levels.sorted() == levels)
        #expect(LogLevel.trace < .debug)
        #expect(LogLevel.warn < .error)
        #expect(!(LogLevel.error < .info))
        #expect(LogLevel.info >= .info)
    }
}
