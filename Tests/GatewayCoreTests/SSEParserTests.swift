import Testing
@testable import GatewayCore

@Suite struct SSEParserTests {
    private func ev(_ data: String, event: String? = nil, id: String? = nil, retry: Int? = nil) -> SSEEvent {
        SSEEvent(event: event, data: data, id: id, retry: retry)
    }

    /// All events of `text` fed in one piece, then finished.
    private func all(_ text: String) -> [SSEEvent] {
        var p = SSEParser()
        return p.feed(utf8(text)) + p.finish()
    }

    @Test func singleEvent() {
        var p = SSEParser()
        #expect(p.feed(utf8("data: hello\n\n")) == [ev("hello")])
        #expect(p.finish() == [])
    }

    @Test func multiLineData() {
        #expect(all("data: a\ndata: b\ndata:c\n\n") == [ev("a\nb\nc")])
        #expect(all("data: {\"x\":\ndata: 1}\n\n") == [ev("{\"x\":\n1}")])
    }

    @Test func onlyOneLeadingSpaceIsStripped() {
        #expect(all("data:  two\n\n") == [ev(" two")])
        #expect(all("data:nospace\n\n") == [ev("nospace")])
        #expect(all("data: trailing \n\n") == [ev("trailing ")])
        #expect(all("data: a:b: c\n\n") == [ev("a:b: c")])
    }

    @Test func lineEndingsLFCRLFAndCRAreEquivalent() {
        let lines = ["event: e1", "data: one", "data: two", "", ": comment", "id: 7", "data: three", "", "data: four", ""]
        let expected = [ev("one\ntwo", event: "e1"), ev("three", id: "7"), ev("four", id: "7")]
        for sep in ["\n", "\r\n", "\r"] {
            #expect(all(lines.joined(separator: sep) + sep) == expected, "separator \(sep.debugDescription)")
        }
        // Mixed within one stream.
        #expect(all("data: a\r\ndata: b\rdata: c\n\r\n") == [ev("a\nb\nc")])
        #expect(all("data: a\n\rdata: b\r\r") == [ev("a"), ev("b")])
    }

    @Test func crlfIsOneLineEndNotTwo() {
        // If CR LF were two line ends, the LF would be a blank line and split the event.
        #expect(all("data: a\r\ndata: b\r\n\r\n") == [ev("a\nb")])
    }

    @Test func commentsAreSkipped() {
        #expect(all(": ping\n\n") == [])
        #expect(all(":\n\n") == [])
        #expect(all(": keep-alive\ndata: x\n: another\ndata: y\n\n") == [ev("x\ny")])
    }

    @Test func eventIdAndRetry() {
        #expect(all("event: message\nid: 42\nretry: 1500\ndata: {}\n\n") == [ev("{}", event: "message", id: "42", retry: 1500)])
        #expect(all("retry: soon\ndata: x\n\n") == [ev("x")])
    }

    @Test func eventTypeAndRetryApplyToOneEventOnly() {
        let got = all("event: special\nretry: 10\ndata: 1\n\ndata: 2\n\n")
        #expect(got == [ev("1", event: "special", retry: 10), ev("2")])
    }

    @Test func lastEventIdPersistsAcrossEvents() {
        // WHATWG: the last event ID buffer is not reset when an event is dispatched.
        #expect(all("id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n") == [ev("a", id: "1"), ev("b", id: "1"), ev("c", id: "2")])
    }

    @Test func blockWithoutDataDispatchesNothingAndLeaksNothing() {
        #expect(all("event: lonely\n\ndata: x\n\n") == [ev("x")])
        #expect(all("retry: 5\n\ndata: x\n\n") == [ev("x")])
        #expect(all("\n\n\n\n") == [])
    }

    @Test func emptyDataEvents() {
        #expect(all("data\n\n") == [ev("")])
        #expect(all("data:\n\n") == [ev("")])
        #expect(all("data: \n\n") == [ev("")])
        #expect(all("data:\ndata:\n\n") == [ev("\n")])
        #expect(all("data:\ndata: x\n\n") == [ev("\nx")])
    }

    @Test func unknownFieldsAndFieldsWithoutColonAreIgnored() {
        #expect(all("foo: bar\nDATA: no\nData: no\nevent\ndata: yes\n\n") == [ev("yes", event: "")])
        #expect(all("data : spaced\n\n") == [])
    }

    @Test func severalEventsInOneChunk() {
        var p = SSEParser()
        let got = p.feed(utf8("data: 1\n\ndata: 2\n\ndata: 3\n\ndata: partial"))
        #expect(got == [ev("1"), ev("2"), ev("3")])
        #expect(p.finish() == [ev("partial")])
    }

    @Test func finishFlushesATrailingEvent() {
        for tail in ["data: x", "data: x\n", "data: x\r", "data: x\r\n"] {
            var p = SSEParser()
            #expect(p.feed(utf8(tail)) == [], "nothing dispatched before the blank line: \(tail.debugDescription)")
            #expect(p.finish() == [ev("x")], "\(tail.debugDescription)")
        }
        var p = SSEParser()
        #expect(p.feed(utf8("data: x\n\n")) == [ev("x")])
        #expect(p.finish() == [], "nothing left to flush")
        var q = SSEParser()
        #expect(q.feed(utf8(": only a comment")) == [])
        #expect(q.finish() == [])
    }

    @Test func carriageReturnAtTheEndOfAChunk() {
        var p = SSEParser()
        #expect(p.feed(utf8("data: a\r")) == [])
        // The LF completing the CRLF must not count as a blank line.
        #expect(p.feed(utf8("\ndata: b\r")) == [])
        #expect(p.feed(utf8("\n\r")) == [ev("a\nb")])
        #expect(p.feed(utf8("\ndata: c\n\n")) == [ev("c")])
    }

    @Test func multiByteCharactersSplitAcrossChunks() {
        let text = "data: é€😀日本\n\n"
        let bytes = utf8(text)
        var p = SSEParser()
        var got: [SSEEvent] = []
        for b in bytes { got += p.feed([b]) }
        #expect(got == [ev("é€😀日本")])
    }

    private static let streams: [String] = [
        "event: message\r\nid: abc\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1}\r\n\r\n: ping\r\n\r\ndata: é😀\r\ndata: second\r\n\r\n",
        "data: one\n\nevent: x\ndata: two\nretry: 30\n\n:c\ndata\n\ndata: tail",
        "data: a\rdata: b\r\rid: 9\rdata: c\r\r\n\r\ndata: d\r",
        "\r\n\r\n\n\r:x\r\ndata:1\r\n\r\n",
    ]

    @Test(arguments: streams)
    func splitAtEveryByteBoundaryGivesTheSameEvents(_ text: String) {
        let bytes = utf8(text)
        let whole = all(text)
        #expect(!whole.isEmpty)
        for k in 0...bytes.count {
            var p = SSEParser()
            let got = p.feed(bytes[0..<k]) + p.feed(bytes[k...]) + p.finish()
            #expect(got == whole, "split at \(k)")
        }
        for k in 0...bytes.count {
            for l in k...bytes.count where (l - k) % 3 == 0 {
                var p = SSEParser()
                let got = p.feed(bytes[0..<k]) + p.feed(bytes[k..<l]) + p.feed(bytes[l...]) + p.finish()
                #expect(got == whole, "split at \(k) and \(l)")
            }
        }
        var p = SSEParser()
        var got: [SSEEvent] = []
        for b in bytes { got += p.feed(CollectionOfOne(b)) }
        #expect(got + p.finish() == whole, "byte by byte")
    }

    @Test func expectedEventsOfTheFirstStream() {
        #expect(all(Self.streams[0]) == [
            ev("{\"jsonrpc\":\"2.0\",\"id\":1}", event: "message", id: "abc"),
            ev("é😀\nsecond", id: "abc"),
        ])
        #expect(all(Self.streams[1]) == [ev("one"), ev("two", event: "x", retry: 30), ev(""), ev("tail")])
        #expect(all(Self.streams[2]) == [ev("a\nb"), ev("c", id: "9"), ev("d", id: "9")])
    }
}
