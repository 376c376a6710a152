import Testing
@testable import GatewayCore

@Suite struct HTTPOriginTests {
    @Test(arguments: [
        ("http://127.0.0.1:8000/mcp", "127.0.0.1", 8000, "/mcp", "127.0.0.1:8000"),
        ("http://127.0.0.1/mcp?x=1", "127.0.0.1", 80, "/mcp?x=1", "127.0.0.1"),
        ("HTTP://10.0.0.2:1", "10.0.0.2", 1, "/", "10.0.0.2:1"),
        ("http://localhost:3000/a/b", "127.0.0.1", 3000, "/a/b", "localhost:3000"),
        ("http://LocalHost/", "127.0.0.1", 80, "/", "LocalHost"),
        ("http://[::1]:9000/mcp", "::1", 9000, "/mcp", "[::1]:9000"),
        ("http://[fe80::1]/", "fe80::1", 80, "/", "[fe80::1]"),
        ("http://127.0.0.1:65535?q", "127.0.0.1", 65535, "/?q", "127.0.0.1:65535"),
    ])
    func plainHTTPToAddresses(_ url: String, _ address: String, _ port: Int, _ target: String, _ host: String) throws {
        let (origin, t) = try #require(HTTPOrigin.parse(url))
        #expect(origin.address == address)
        #expect(origin.port == port)
        #expect(t == target)
        #expect(origin.hostHeader == host)
    }

    @Test(arguments: [
        "https://127.0.0.1/mcp", "http://example.com/mcp", "http://user:pw@127.0.0.1/", "http://127.0.0.1:0/",
        "http://127.0.0.1:65536/", "http://127.0.0.1:/", "http://127.0.0.1:8x/", "http://256.0.0.1/", "http://1.2.3/",
        "http://01.2.3.4/", "http://[::1/", "http://[::1]x/", "http://[:::1]/", "http://[1::2::3]/", "http://", "http:///x",
        "http://127.0.0.1/#frag", "ftp://127.0.0.1/", "", "http://[]/", "http://[g::1]/",
    ])
    func everythingElseIsLeftToTheResolvingClient(_ url: String) {
        #expect(HTTPOrigin.parse(url) == nil, "\(url)")
    }
}
