import Glibc

/// Wall-clock times as RFC 3339 / ISO 8601 text in UTC, with milliseconds.
public enum Timestamp {
    /// `2026-12-02T19:39:02.123Z` for `seconds` since the epoch.
    public static func iso8601(_ seconds: Double) -> String {
        let ms = Int64((seconds * 1000).rounded())
        var whole = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let millis = Int(ms - Int64(whole) * 1000)
        var tm = tm()
        gmtime_r(&whole, &tm)
        return "\(tm.tm_year + 1900)-\(pad2(Int(tm.tm_mon) + 1))-\(pad2(Int(tm.tm_mday)))T\(pad2(Int(tm.tm_hour))):\(pad2(Int(tm.tm_min))):\(pad2(Int(tm.tm_sec))).\(pad3(min(999, max(0, millis))))Z"
    }

    /// Now, from the realtime clock.
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func pad3(_ v: Int) -> String { v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : "\(v)" }
}
