// libFuzzer target: the JSON parser, the validator, the byte scanner, the tools/call envelope and
// the relayed-response splice. Properties: a parsed value re-serializes to text that parses to the
// same value; the validator says yes exactly when the parser does; the scanner agrees with the
// parser on an object's keys; an envelope is only read from what parses, names the same tool, and
// its spliced downstream params are valid JSON; a rewrapped response is always valid JSON.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let parsed = try? JSONParser.parse(bytes)
    guard JSONValidator.isValid(bytes) == (parsed != nil) else {
        fatalError("the validator and the parser disagree on: \(bytes)")
    }
    if let envelope = ToolCallEnvelope.scan(bytes) {
        guard let parsed else { fatalError("an envelope was read from what does not parse") }
        guard parsed["params"]?["name"]?.stringValue == envelope.name else { fatalError("the envelope names another tool") }
        for token in [nil, "gw-1"] as [String?] {
            let out = envelope.downstreamParams(originalName: "t\"x", token: token)
            guard let params = try? JSONParser.parse(out) else { fatalError("spliced params are not JSON: \(String(decoding: out, as: UTF8.self))") }
            guard params["name"] == .string("t\"x") else { fatalError("the spliced name is wrong") }
        }
    }
    guard let value = parsed else {
        _ = JSONScanner.members(bytes)
        _ = RelayedResponse.rewrap(bytes, id: Array("1".utf8), modern: true, serverInfo: Array("{}".utf8))
        return 0
    }
    let text = value.serialized()
    guard let again = try? JSONParser.parse(text) else { fatalError("serialized JSON does not parse: \(String(decoding: text, as: UTF8.self))") }
    guard again == value else { fatalError("round trip changed the value") }
    if case .object(let pairs) = value {
        guard let members = JSONScanner.members(bytes) else { fatalError("the scanner refused an object the parser took") }
        guard members.map(\.key) == pairs.map(\.0) else { fatalError("the scanner's keys differ from the parser's") }
        for m in members {
            let raw = Array(bytes[m.value])
            guard (try? JSONParser.parse(raw)) != nil else { fatalError("a member's range is not a JSON value") }
        }
        for modern in [false, true] {
            if let out = RelayedResponse.rewrap(bytes, id: Array(#""x""#.utf8), modern: modern, serverInfo: Array(#"{"name":"g"}"#.utf8)) {
                guard (try? JSONParser.parse(out)) != nil else { fatalError("rewrap produced invalid JSON: \(String(decoding: out, as: UTF8.self))") }
            }
        }
    }
    return 0
}
