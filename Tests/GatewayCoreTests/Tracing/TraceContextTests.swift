import Testing
@testable import GatewayCore

@Suite struct TraceContextTests {
    @Test(arguments: [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true), ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false), ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false), ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false), ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),
        ("", false), ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false),
    ])
    func parsesTraceparent(_ header: String, _ valid: Bool) {
        #expect((TraceContext.parse(header) != nil) == valid, "\(header)")
    }

    @Test func roundTripsAndChildrenKeepTheTrace() throws {
        let c = try #require(TraceContext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", state: "a=1"))
        #expect(c.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" && c.state == "a=1" && c.flags == 1)
        let child = c.with(spanID: "1111111111111111")
        #expect(child.traceID == c.traceID && child.traceparent.contains("-1111111111111111-") && child.state == "a=1")
        #expect(TraceContext.parse(c.traceparent, state: String(repeating: "x", count: 600))?.state == nil, "an oversized tracestate is dropped")
    }

    @Test func randomIdsAreHexOfTheRightSizeAndNeverZero() {
        var g = SplitMix64(seed: 0)
        var seen = Set<String>()
        for _ in 0..<200 {
            let t = TraceContext.hex(bytes: 16, using: &g), s = TraceContext.hex(bytes: 8, using: &g)
            #expect(t.count == 32 && s.count == 16 && TraceContext.parse("00-\(t)-\(s)-01") != nil)
            seen.insert(t)
        }
        #expect(seen.count == 200)
    }

    @Test func theQueueDropsInsteadOfGrowing() {
        var q = SpanQueue(capacity: 3)
        for i in 0..<5 {
            q.push(Span(traceID: "t", spanID: "s\(i)", parentSpanID: nil, name: "n", kind: .server, start: 0, end: 1, attributes: [], failed: false))
        }
        #expect(q.spans.count == 3 && q.dropped == 2)
        #expect(q.take(2).map(\.spanID) == ["s0", "s1"] && q.spans.map(\.spanID) == ["s2"])
    }

    @Test func encodesOTLPJSON() throws {
        let span = Span(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", parentSpanID: "1111111111111111", traceState: "a=1",
                        name: "mcp tools/call", kind: .client, start: 1_700_000_000_000_000_001, end: 1_700_000_000_000_000_999,
                        attributes: [("mcp.service", "weather")], failed: true)
        let doc = try JSONParser.parse(OTLPJSON.traces([span], service: "mcp-gateway", version: "1.2.3"))
        let rs = try #require(doc["resourceSpans"]?.arrayValue?.first)
        #expect(rs["resource"]?["attributes"]?.arrayValue?.first?["value"]?["stringValue"] == .string("mcp-gateway"))
        let s = try #require(rs["scopeSpans"]?.arrayValue?.first?["spans"]?.arrayValue?.first)
        #expect(s["traceId"] == .string(span.traceID) && s["parentSpanId"] == .string("1111111111111111") && s["kind"] == .int(3))
        #expect(s["startTimeUnixNano"] == .string("1700000000000000001") && s["status"]?["code"] == .int(2) && s["traceState"] == .string("a=1"))
        #expect(s["attributes"]?.arrayValue?.first?["value"]?["stringValue"] == .string("weather"))
    }
}
