/// Name patterns of virtual servers: `*` matches any run of characters (also none), `?` exactly
/// one; everything else matches itself. `weather__*`, `*__search`, `ui://*`.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        // Iterative matching with one backtrack point: linear in practice, no recursion.
        var i = 0, j = 0, star = -1, mark = 0
        while j < t.count {
            if i < p.count && (p[i] == UInt8(ascii: "?") || (p[i] != UInt8(ascii: "*") && p[i] == t[j])) {
                i += 1
                j += 1
            } else if i < p.count && p[i] == UInt8(ascii: "*") {
                star = i
                mark = j
                i += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count && p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }
}
