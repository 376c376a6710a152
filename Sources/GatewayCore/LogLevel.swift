public enum LogLevel: Int, Sendable, Comparable {
    case trace, debug, info, warn, error
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}
