// libFuzzer target: the SSE parser. Property: feeding the stream in pieces (split where the first
// input byte says) gives exactly the events of feeding it whole.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSSE(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let step = Int(data[0]) % 17 + 1
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    var whole = SSEParser()
    let expected = whole.feed(bytes) + whole.finish()
    var pieces = SSEParser()
    var got: [SSEEvent] = []
    var i = 0
    while i < bytes.count {
        got += pieces.feed(bytes[i..<min(i + step, bytes.count)])
        i += step
    }
    got += pieces.finish()
    guard got == expected else { fatalError("split feeding changed the events (step \(step))") }
    return 0
}
