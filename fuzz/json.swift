// libFuzzer target: the JSON parser, the byte scanner and the relayed-response splice.
// Properties: a parsed value re-serializes to text that parses to the same value; the scanner
// agrees with the parser on an object's keys; a rewrapped response is always valid JSON.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes) else {
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
