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
        ("https://127.0.0.1/mcp", "127.0.0.1", 443, "/mcp", "127.0.0.1"),
        ("HTTPS://localhost:8443", "127.0.0.1", 8443, "/", "localhost:8443"),
    ])
    func addressesNeedNoLookup(_ url: String, _ address: String, _ port: Int, _ target: String, _ host: String) throws {
        let (origin, t) = try #require(HTTPOrigin.parse(url))
        #expect(origin.literalAddress?.address == address)
        #expect(origin.port == port)
        #expect(t == target)
        #expect(origin.hostHeader == host)
        #expect(origin.isTLS == url.lowercased().hasPrefix("https"))
    }

    @Test(arguments: [
        ("http://downstream.internal/mcp", HTTPOrigin.Scheme.http, "downstream.internal", 80),
        ("https://MCP.Example.com:8443/x", .https, "mcp.example.com", 8443),
        ("https://my_service:9000/", .https, "my_service", 9000),
        ("https://example.com./mcp", .https, "example.com", 443),
        ("http://a-b.c9", .http, "a-b.c9", 80),
    ])
    func namesAreResolvedLater(_ url: String, _ scheme: HTTPOrigin.Scheme, _ serverName: String, _ port: Int) throws {
        let (origin, _) = try #require(HTTPOrigin.parse(url))
        #expect(origin.scheme == scheme)
        #expect(origin.literalAddress == nil)
        #expect(origin.serverName == serverName)
        #expect(origin.ipLiteral == nil)
        #expect(origin.port == port)
        #expect(origin.authority == "\(serverName):\(port)")
    }

    /// TLS: a name is sent as SNI and matched as a name; an address is sent no SNI and matched as
    /// an address; `localhost` connects to 127.0.0.1 without a lookup but is verified as a name.
    @Test func whatTLSChecks() throws {
        let ip = try #require(HTTPOrigin.parse("https://127.0.0.1:8443/mcp")).origin
        #expect(ip.serverName == nil && ip.ipLiteral == "127.0.0.1" && ip.authority == "127.0.0.1:8443")
        let v6 = try #require(HTTPOrigin.parse("https://[::1]:8443/mcp")).origin
        #expect(v6.serverName == nil && v6.ipLiteral == "::1" && v6.authority == "[::1]:8443")
        let local = try #require(HTTPOrigin.parse("https://localhost:8443/mcp")).origin
        #expect(local.serverName == "localhost" && local.ipLiteral == nil && local.literalAddress?.address == "127.0.0.1")
    }

    @Test func theSchemeIsPartOfTheOrigin() throws {
        let plain = try #require(HTTPOrigin.parse("http://127.0.0.1:8443/")).origin
        let tls = try #require(HTTPOrigin.parse("https://127.0.0.1:8443/")).origin
        #expect(plain != tls, "http and https to the same address never share a connection")
    }

    @Test(arguments: [
        "http://user:pw@127.0.0.1/", "http://127.0.0.1:0/", "https://127.0.0.1:0/",
        "http://127.0.0.1:65536/", "http://127.0.0.1:/", "http://127.0.0.1:8x/", "http://256.0.0.1/", "http://1.2.3/",
        "http://01.2.3.4/", "http://[::1/", "http://[::1]x/", "http://[:::1]/", "http://[1::2::3]/", "http://", "http:///x",
        "http://127.0.0.1/#frag", "ftp://127.0.0.1/", "", "http://[]/", "http://[g::1]/", "https://",
        "http://a..b/", "http://.a/", "http://-a b/", "http://ex%41mple.com/", "http://" + String(repeating: "a", count: 64) + ".com/",
        "http://example.com:99999/", "httpx://example.com/",
    ])
    func malformedURLsHaveNoOrigin(_ url: String) {
        #expect(HTTPOrigin.parse(url) == nil, "\(url)")
    }
}
