/// A `tools/call` read from its bytes: the request is validated in full (`JSONValidator`), then
/// only the members the gateway acts on are located — `id`, `params.name`, `params._meta` and, in
/// it, the protocol version, the client capabilities and the progress token. The call is relayed
/// by splicing the downstream's tool name and progress token into a copy of the bytes; the
/// arguments are never parsed.
///
/// `scan` answers nil for anything but the plain form of a call (a key written with escapes, an
/// envelope member given twice, a non-object `_meta`, a name or version with escapes), and then the
/// request is parsed and classified as a tree, as every other request is: this path only ever
/// takes requests the tree path would dispatch, and builds the same downstream params.
public struct ToolCallEnvelope: Sendable {
    public let body: [UInt8]
    public let id: JSON
    /// The id's bytes as the caller wrote them (a string or a number).
    public let idRange: Range<Int>
    public let params: Range<Int>
    public let name: String
    public let meta: Range<Int>?
    /// `_meta`'s `io.modelcontextprotocol/protocolVersion` when it is a string.
    public let metaVersion: String?
    public let metaHasVersion: Bool
    public let metaHasCapabilities: Bool
    /// The raw value of `_meta.progressToken`.
    public let progressToken: Range<Int>?

    public var idBytes: [UInt8] { Array(body[idRange]) }

    public static func scan(_ body: [UInt8]) -> ToolCallEnvelope? {
        body.withUnsafeBufferPointer { b -> ToolCallEnvelope? in
            var jsonrpc: Range<Int>?, id: Range<Int>?, method: Range<Int>?, params: Range<Int>?
            var plain = true
            func once(_ slot: inout Range<Int>?, _ value: Range<Int>) {
                if slot != nil { plain = false }
                slot = value
            }
            guard JSONScanner.forEachMember(b, 0..<b.count, { key, value in
                if JSONScanner.hasBackslash(b, key) { plain = false; return }
                if JSONScanner.equals(b, key, "jsonrpc") { once(&jsonrpc, value) }
                else if JSONScanner.equals(b, key, "id") { once(&id, value) }
                else if JSONScanner.equals(b, key, "method") { once(&method, value) }
                else if JSONScanner.equals(b, key, "params") { once(&params, value) }
            }), plain, let jsonrpc, let id, let method, let params,
                  JSONScanner.equals(b, jsonrpc, "\"2.0\""), JSONScanner.equals(b, method, "\"tools/call\""),
                  b[params.lowerBound] == UInt8(ascii: "{") else { return nil }
            // A tools/call: now the whole of it must be well-formed JSON (other requests are parsed
            // anyway, and are not validated twice).
            guard JSONValidator.isValid(b) else { return nil }

            let idValue: JSON
            switch b[id.lowerBound] {
            case UInt8(ascii: "\""):
                guard let s = plainString(b, id) else { return nil }
                idValue = .string(s)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                idValue = .number(String(decoding: UnsafeBufferPointer(rebasing: b[id]), as: UTF8.self))
            default:
                return nil  // null, true, an object: the classifier's error
            }

            var name: Range<Int>?, meta: Range<Int>?
            guard JSONScanner.forEachMember(b, params, { key, value in
                if JSONScanner.hasBackslash(b, key) { plain = false; return }
                if JSONScanner.equals(b, key, "name") { once(&name, value) }
                else if JSONScanner.equals(b, key, "_meta") { once(&meta, value) }
            }), plain, let name, let nameText = plainString(b, name) else { return nil }

            var version: Range<Int>?, capabilities: Range<Int>?, token: Range<Int>?
            if let meta {
                guard b[meta.lowerBound] == UInt8(ascii: "{"), JSONScanner.forEachMember(b, meta, { key, value in
                    if JSONScanner.hasBackslash(b, key) { plain = false; return }
                    if JSONScanner.equals(b, key, "io.modelcontextprotocol/protocolVersion") { once(&version, value) }
                    else if JSONScanner.equals(b, key, "io.modelcontextprotocol/clientCapabilities") { once(&capabilities, value) }
                    else if JSONScanner.equals(b, key, "progressToken") { once(&token, value) }
                }), plain else { return nil }
            }
            var metaVersion: String?
            if let version, b[version.lowerBound] == UInt8(ascii: "\"") {
                guard let s = plainString(b, version) else { return nil }
                metaVersion = s
            }
            return ToolCallEnvelope(body: body, id: idValue, idRange: id, params: params, name: nameText, meta: meta,
                                    metaVersion: metaVersion, metaHasVersion: version != nil,
                                    metaHasCapabilities: capabilities != nil, progressToken: token)
        }
    }

    /// The text of the JSON string at `range` (quotes included) when it has no escapes.
    static func plainString(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        guard range.count >= 2, b[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        guard !JSONScanner.hasBackslash(b, inner) else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: b[inner]), as: UTF8.self)
    }

    /// The caller's progress token, as a value (tokens are short; only calls that carry one pay).
    public var progressTokenValue: JSON? {
        guard let token = progressToken else { return nil }
        return body.withUnsafeBufferPointer { try? JSONParser.parse(UnsafeBufferPointer(rebasing: $0[token])) }
    }

    /// The params the downstream gets: the caller's bytes with `name` replaced by the downstream's
    /// own tool name and `_meta` reduced as `DownstreamMeta.filtered` reduces it (the protocol's
    /// own keys and the caller's progress token go; `token`, the gateway's, comes in); everything
    /// else, the arguments included, is copied as written.
    public func downstreamParams(originalName: String, token: String?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(params.count + originalName.utf8.count + 24)
        writeDownstreamParams(originalName: originalName, token: token, to: &out)
        return out
    }

    /// `downstreamParams`, appended to `out` (the request body being written).
    public func writeDownstreamParams(originalName: String, token: String?, to out: inout [UInt8]) {
        let start = out.count
        out.append(UInt8(ascii: "{"))
        var first = true
        body.withUnsafeBufferPointer { b in
            func member(_ key: Range<Int>) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(UInt8(ascii: "\""))
                out += UnsafeBufferPointer(rebasing: b[key])
                out += "\":".utf8
            }
            _ = JSONScanner.forEachMember(b, params) { key, value in
                if JSONScanner.equals(b, key, "name") {
                    member(key)
                    JSON.writeString(originalName, to: &out)
                } else if JSONScanner.equals(b, key, "_meta") {
                    var kept = false
                    let mark = out.count
                    member(key)
                    out.append(UInt8(ascii: "{"))
                    _ = JSONScanner.forEachMember(b, value) { k, v in
                        guard !JSONScanner.equals(b, k, "progressToken"), !Self.hasPrefix(b, k, Self.metaPrefix) else { return }
                        if kept { out.append(UInt8(ascii: ",")) }
                        kept = true
                        out.append(UInt8(ascii: "\""))
                        out += UnsafeBufferPointer(rebasing: b[k])
                        out += "\":".utf8
                        out += UnsafeBufferPointer(rebasing: b[v])
                    }
                    if let token {
                        if kept { out.append(UInt8(ascii: ",")) }
                        kept = true
                        out += #""progressToken":"#.utf8
                        JSON.writeString(token, to: &out)
                    }
                    if kept {
                        out.append(UInt8(ascii: "}"))
                    } else {  // nothing left: no `_meta` at all
                        out.removeSubrange(mark...)
                        if mark == start + 1 { first = true }
                    }
                } else {
                    member(key)
                    out += UnsafeBufferPointer(rebasing: b[value])
                }
            }
        }
        if meta == nil, let token {
            if !first { out.append(UInt8(ascii: ",")) }
            out += #""_meta":{"progressToken":"#.utf8
            JSON.writeString(token, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    static let metaPrefix: [UInt8] = Array(MCPVersions.metaPrefix.utf8)

    static func hasPrefix(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ prefix: [UInt8]) -> Bool {
        range.count >= prefix.count && prefix.withUnsafeBufferPointer { p in
            JSONScanner.memcmpEqual(b.baseAddress! + range.lowerBound, p.baseAddress!, p.count)
        }
    }
}

/// The `_meta` a downstream gets: the caller's entries without the protocol's own
/// (`io.modelcontextprotocol/…`) and without the caller's progress token, plus `token` (the
/// gateway's) when the caller asked for progress.
public enum DownstreamMeta {
    public static func filtered(_ meta: JSON?, token: String?) -> [(String, JSON)] {
        var kept = (meta?.objectValue ?? []).filter { !$0.0.hasPrefix(MCPVersions.metaPrefix) && $0.0 != "progressToken" }
        if let token { kept.append(("progressToken", .string(token))) }
        return kept
    }
}

extension MCPRequestClassifier {
    /// What `post` decides for a `tools/call` scanned from bytes, when that decision is to serve
    /// it; nil when it is anything else (a refusal, an error), which the caller then reaches by
    /// parsing and classifying the request in full. Every check here is `post`'s own, in its order.
    public static func postToolCall(_ head: Head, _ e: ToolCallEnvelope, origins: OriginPolicy,
                                    session: (String) -> SessionToken?) -> MCPCall? {
        if refuseOrigin(head, origins) != nil { return nil }
        let header = head.protocolVersion
        let metaVersion = e.metaVersion
        let modern = header.map { MCPVersions.modern.contains($0) || (!MCPVersions.handshake.contains($0) && metaVersion != nil) }
            ?? (metaVersion != nil)
        if modern {
            guard e.meta != nil, e.metaHasVersion, e.metaHasCapabilities else { return nil }
            if let header, let metaVersion, header != metaVersion { return nil }
            guard head.mcpMethod == "tools/call", let presented = head.mcpName,
                  let decoded = HeaderValue.decode(presented), decoded == e.name else { return nil }
            if let header, !MCPVersions.modern.contains(header) { return nil }
            if let metaVersion, !MCPVersions.modern.contains(metaVersion) { return nil }
            return MCPCall(id: e.id, idBytes: e.idBytes, method: "tools/call", params: .null, modern: true,
                           version: metaVersion ?? header ?? "", session: nil, acceptsStream: head.acceptsSSE)
        }
        guard head.acceptsJSON && head.acceptsSSE else { return nil }
        if let header, !MCPVersions.handshake.contains(header) { return nil }
        guard let presented = head.sessionID, let token = session(presented) else { return nil }
        return MCPCall(id: e.id, idBytes: e.idBytes, method: "tools/call", params: .null, modern: false,
                       version: header ?? MCPVersions.assumedWithoutHeader, session: token, acceptsStream: true)
    }
}
