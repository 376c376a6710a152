import GatewayCore
import Glibc
import HTTP
import Reactor

/// One line per event, text (`key=value`) or JSON, to stderr. Callers pass identities
/// (connection, service, session prefix), never secrets.
public final class Log: @unchecked Sendable {
    public let level: LogLevel
    public let json: Bool

    public init(level: String, format: Configuration.LogFormat) {
        switch level {
        case "trace": self.level = .trace
        case "debug": self.level = .debug
        case "warn": self.level = .warn
        case "error": self.level = .error
        default: self.level = .info
        }
        json = format == .json
    }

    public func enabled(_ l: LogLevel) -> Bool { l >= level }

    public func callAsFunction(_ l: LogLevel, _ message: @autoclosure () -> String, _ fields: [(String, String)] = []) {
        guard l >= level else { return }
        write(l, message(), fields)
    }

    private static let names: [LogLevel: String] = [.trace: "trace", .debug: "debug", .info: "info", .warn: "warn", .error: "error"]

    private func write(_ l: LogLevel, _ message: String, _ fields: [(String, String)]) {
        let time = Timestamp.iso8601(Timestamp.now)
        var line: String
        if json {
            var pairs: [(String, JSON)] = [("time", .string(time)), ("level", .string(Self.names[l]!)), ("msg", .string(message))]
            for (k, v) in fields { pairs.append((k, .string(v))) }
            line = JSON.object(pairs).text
        } else {
            line = "\(time) \(Self.names[l]!) \(message)"
            for (k, v) in fields {
                let needsQuotes = v.contains(" ") || v.contains("\"") || v.isEmpty
                line += " \(k)=" + (needsQuotes ? JSON.quoted(v) : v)
            }
        }
        line += "\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}
