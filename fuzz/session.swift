// libFuzzer target: session-token verification. Properties: arbitrary text never verifies; a
// genuine token verifies, and with any one byte changed it never does.

let secret = Array("fuzzing-secret-fuzzing-secret".utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    if SessionToken.verify(text, secret: secret, now: 2_000, maxAge: 3600) != nil {
        fatalError("arbitrary input verified: \(text)")
    }
    guard size >= 2 else { return 0 }
    let random = Array(bytes.prefix(16)) + Array(repeating: 0, count: max(0, 16 - bytes.count))
    let token = SessionToken.issue(secret: secret, protocolVersion: "2025-11-25", now: 1_000, random: random)
    guard SessionToken.verify(token.id, secret: secret, now: 2_000, maxAge: 3600) == token else { fatalError("a genuine token was refused") }
    var id = Array(token.id.utf8)
    let at = Int(bytes[0]) % id.count
    let replacement = bytes[1] == id[at] ? bytes[1] &+ 1 : bytes[1]
    id[at] = replacement
    let changed = String(decoding: id, as: UTF8.self)
    if changed != token.id, let t = SessionToken.verify(changed, secret: secret, now: 2_000, maxAge: 3600), t.id != token.id {
        fatalError("a changed token verified: \(changed)")
    }
    return 0
}
