@testable import HTTP
import Testing

/// The request parser on bytes: the request line's version check, and a request's pieces.
@Suite struct RequestParserTests {
    static func parse(_ text: String) -> RequestParser.Event {
        let parser = RequestParser(maxHeaderBytes: 8192, maxBodyBytes: 1 << 20)
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { parser.execute(UnsafeRawBufferPointer($0)).event }
    }

    static func status(_ line: String) -> Int? { RequestParser.versionProblem(Array(line.utf8))?.0 }

    @Test func onlyHTTP1VersionsPass() {
        #expect(Self.status("GET / HTTP/1.1") == nil)
        #expect(Self.status("GET / HTTP/1.0\r") == nil)
        #expect(Self.status("GET / HTTP/1.1  ") == nil)
        #expect(Self.status("GET / HTTP/2.0") == 505)
        #expect(Self.status("GET / HTTP/1.10") == 505)
        #expect(Self.status("GET / HTTP/1.x") == 505)
        #expect(Self.status("GET / HTTX/1.1") == 400)
        #expect(Self.status("GET /") == 400)
        #expect(Self.status("   ") == 400)
        #expect(Self.status("") == 400)
    }

    @Test func aRequestArrivesWhole() {
        guard case .request(let request) = Self.parse("\r\nPOST /mcp?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}") else {
            Issue.record("no request")
            return
        }
        #expect(request.method == "POST")
        #expect(request.path == "/mcp")
        #expect(request.query == "x=1")
        #expect(request.header("content-type") == "application/json")
        #expect(request.header("Host") == "a")
        #expect(request.body == Array("{}".utf8))
    }

    @Test func aBadVersionIsRefusedBeforeParsing() {
        guard case .failure(let status, _) = Self.parse("GET / HTTP/3.0\r\n\r\n") else {
            Issue.record("not refused")
            return
        }
        #expect(status == 505)
    }
}
