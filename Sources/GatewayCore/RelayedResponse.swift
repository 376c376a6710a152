/// A downstream's JSON-RPC response turned into the caller's, as bytes: the caller's id goes in,
/// `result` or `error` is copied without being parsed into a tree. A 2026-07-28 caller's result
/// gets what that revision requires of every result and a handshake-era downstream does not send:
/// `resultType` and `_meta["io.modelcontextprotocol/serverInfo"]` (added, never replacing what
/// the downstream sent).
public enum RelayedResponse {
    /// `{"jsonrpc":"2.0","id":<id>,"<key>":<raw>}` without re-serializing `raw`.
    public static func envelope(id: [UInt8], key: String, raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count + id.count + 40)
        out += #"{"jsonrpc":"2.0","id":"#.utf8
        out += id
        out += #",""#.utf8
        out += key.utf8
        out += #"":"#.utf8
        out += raw
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The caller's response for the downstream's `raw` message, or nil when `raw` is not a
    /// JSON-RPC response object (neither `result` nor `error`).
    /// - Parameter serverInfo: the serialized serverInfo object to add for a modern caller.
    public static func rewrap(_ raw: [UInt8], id: [UInt8], modern: Bool, serverInfo: [UInt8]) -> [UInt8]? {
        raw.withUnsafeBufferPointer { buf -> [UInt8]? in
            // One pass over the members; only keys written with escapes need them decoded.
            var result: Range<Int>?, error: Range<Int>?, escaped = false
            guard JSONScanner.forEachMember(buf, 0..<buf.count, { key, value in
                if JSONScanner.hasBackslash(buf, key) { escaped = true }
                else if result == nil, JSONScanner.equals(buf, key, "result") { result = value }
                else if error == nil, JSONScanner.equals(buf, key, "error") { error = value }
            }) else { return nil }
            if escaped {
                guard let members = JSONScanner.members(buf) else { return nil }
                result = members.range(of: "result")
                error = members.range(of: "error")
            }
            if let r = result {
                guard modern, let inner = JSONScanner.members(buf, in: r) else {
                    return envelope(id: id, key: "result", raw: UnsafeBufferPointer(rebasing: buf[r]))
                }
                let result = modernResult(buf, r, inner, serverInfo: serverInfo)
                return result.withUnsafeBufferPointer { envelope(id: id, key: "result", raw: $0) }
            }
            if let r = error {
                return envelope(id: id, key: "error", raw: UnsafeBufferPointer(rebasing: buf[r]))
            }
            return nil
        }
    }

    static let serverInfoKey = Array(#""io.modelcontextprotocol/serverInfo":"#.utf8)

    /// The result object `buf[r]` (with members `inner`) with `resultType` and the serverInfo
    /// `_meta` entry added where missing; everything else as sent.
    static func modernResult(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ inner: [JSONScanner.Member],
                             serverInfo: [UInt8]) -> [UInt8] {
        // Where to splice: right after the result's `{`, and (when `_meta` is an object without
        // serverInfo) right after the `_meta` object's `{`.
        let open = openingBrace(buf, from: r.lowerBound)
        var head: [UInt8] = []
        if inner.range(of: "resultType") == nil { head += #""resultType":"complete""#.utf8 }
        var metaSplice: (at: Int, empty: Bool)?
        if let m = inner.range(of: "_meta") {
            if let metaMembers = JSONScanner.members(buf, in: m), metaMembers.range(of: "io.modelcontextprotocol/serverInfo") == nil {
                metaSplice = (openingBrace(buf, from: m.lowerBound) + 1, metaMembers.isEmpty)
            }
        } else {
            if !head.isEmpty { head.append(UInt8(ascii: ",")) }
            head += #""_meta":{"#.utf8
            head += serverInfoKey
            head += serverInfo
            head.append(UInt8(ascii: "}"))
        }
        var out: [UInt8] = []
        out.reserveCapacity(r.count + head.count + serverInfo.count + 48)
        out.append(UInt8(ascii: "{"))
        out += head
        if !head.isEmpty && !inner.isEmpty { out.append(UInt8(ascii: ",")) }
        let rest = (open + 1)..<r.upperBound
        if let (at, empty) = metaSplice {
            out += UnsafeBufferPointer(rebasing: buf[rest.lowerBound..<at])
            out += serverInfoKey
            out += serverInfo
            if !empty { out.append(UInt8(ascii: ",")) }
            out += UnsafeBufferPointer(rebasing: buf[at..<rest.upperBound])
        } else {
            out += UnsafeBufferPointer(rebasing: buf[rest])
        }
        return out
    }

    private static func openingBrace(_ buf: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        while buf[i] != UInt8(ascii: "{") { i += 1 }
        return i
    }

    private static let uriKey = Array("uri".utf8)

    /// A `resources/read` response with each `result.contents[].uri` federated for `service`, as
    /// bytes: the URI strings are replaced, every other byte kept (and, for a 2026-07-28 caller,
    /// `ttlMs` 0 and `cacheScope` `private` added where the result has none). nil when the message
    /// is not a result with a `contents` array (the caller relays it as it is).
    public static func federatingContents(_ raw: [UInt8], service: String, modern: Bool) -> [UInt8]? {
        raw.withUnsafeBufferPointer { buf -> [UInt8]? in
            guard let members = JSONScanner.members(buf), let r = members.range(of: "result"),
                  let inner = JSONScanner.members(buf, in: r), let c = inner.range(of: "contents"),
                  buf[c.lowerBound] == UInt8(ascii: "[") else { return nil }
            let array = Array(buf[c])
            var out: [UInt8] = []
            out.reserveCapacity(raw.count + 64)
            let open = openingBrace(buf, from: r.lowerBound)
            out += buf[..<(open + 1)]
            if modern {
                if inner.range(of: "ttlMs") == nil { out += #""ttlMs":0,"#.utf8 }
                if inner.range(of: "cacheScope") == nil { out += #""cacheScope":"private","#.utf8 }
            }
            out += buf[(open + 1)..<c.lowerBound]
            var copied = 0
            for (uri, element, range) in ToolIndex.elements(in: array, key: uriKey) {
                guard let federated = FederatedURI.federate(service: service, uri: uri) else { continue }
                let start = element.startIndex + range.lowerBound, end = element.startIndex + range.upperBound
                out += array[copied..<start]
                JSON.writeString(federated, to: &out)
                copied = end
            }
            out += array[copied...]
            out += buf[c.upperBound...]
            return out
        }
    }
}
