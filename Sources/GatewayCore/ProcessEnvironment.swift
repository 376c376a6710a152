#if canImport(Glibc)
import Glibc
#endif

public enum ProcessEnvironment {
    /// The process environment as a dictionary.
    public static func all() -> [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                result[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return result
    }
}

/// Writes whole lines to stdout/stderr with one write(2) each (C's FILE streams are not
/// concurrency-safe in Swift 6).
public enum Console {
    public static func out(_ line: String) { write(1, line + "\n") }
    public static func error(_ line: String) { write(2, line + "\n") }

    private static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            bytes = bytes.dropFirst(n)
        }
    }
}
