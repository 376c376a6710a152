// libFuzzer target: the HTTP request parser over http-parser, fed as the connection feeds it: in
// pieces of the size the first input byte says, resuming after each pause (headers, message).
// Properties: no crash; every request it yields respects the size limits.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let step = Int(data[0]) % 64 + 1
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let parser = RequestParser(maxHeaderBytes: 1024, maxBodyBytes: 4096)
    var offset = 0
    var rounds = 0
    while offset < bytes.count {
        rounds += 1
        if rounds > 100_000 { fatalError("the parser stopped consuming") }
        let end = min(offset + step, bytes.count)
        let (consumed, event) = bytes[offset..<end].withUnsafeBytes { parser.execute($0) }
        switch event {
        case .failure:
            return 0  // the connection answers and closes
        case .request(let r):
            if r.body.count > 4096 { fatalError("a body over the limit passed") }
        case .needMore, .headers:
            break
        }
        if consumed == 0, case .needMore = event { fatalError("needMore without consuming") }
        offset += consumed
    }
    return 0
}
