import Testing
@testable import GatewayCore

@Suite struct ValidationTests {
    // MARK: service names

    @Test(arguments: ["a", "0", "a1", "my-service", "a-b-c", "a--b", "9lives", "weather2", String(repeating: "a", count: 32),
                      "1" + String(repeating: "-", count: 30) + "2", String(repeating: "z9", count: 16)])
    func validServiceNames(_ name: String) {
        #expect(Validation.serviceNameProblem(name) == nil, "\(name)")
    }

    @Test(arguments: ["", String(repeating: "a", count: 33), "-a", "a-", "-", "--", "A", "My", "myService", "a_b", "a.b",
                      "a b", " a", "a ", "é", "caf\u{e9}", "a\n", "ab-", "a/b", "a:b", "a@b", "\u{0}", "a\u{0}",
                      "1" + String(repeating: "-", count: 31) + "2", "ａ"])
    func invalidServiceNames(_ name: String) {
        #expect(Validation.serviceNameProblem(name) != nil, "\(name.debugDescription)")
    }

    @Test func problemsAreDescriptive() {
        #expect(Validation.serviceNameProblem("")?.contains("empty") == true)
        #expect(Validation.serviceNameProblem(String(repeating: "a", count: 33))?.contains("32") == true)
        #expect(Validation.serviceNameProblem("-a") != Validation.serviceNameProblem("a_b"))
    }

    @Test func agreesWithTheRegexOnRandomNames() throws {
        let regex = try Regex("[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?")
        var g = SplitMix64(seed: 31)
        let chars = Array("ab09-_A.z ")
        var disagreements: [String] = []
        var valid = 0
        for _ in 0..<20_000 {
            let n = Int.random(in: 0...35, using: &g)
            // Mostly the name alphabet, so that many names are valid.
            let s = String((0..<n).map { _ in Int.random(in: 0..<10, using: &g) < 8 ? chars[Int.random(in: 0..<5, using: &g)] : chars.randomElement(using: &g)! })
            let byRegex = s.wholeMatch(of: regex) != nil
            if byRegex { valid += 1 }
            if byRegex != (Validation.serviceNameProblem(s) == nil) { disagreements.append(s) }
        }
        #expect(valid > 1000)
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    // MARK: service URLs

    @Test(arguments: [
        "http://example.com", "https://example.com/mcp", "http://localhost:8080/mcp", "HTTPS://EXAMPLE.COM/", "Http://x",
        "http://10.0.0.1:1", "http://h:65535", "http://[::1]:3000/mcp", "http://[::1]/mcp", "http://[2001:db8::1]",
        "https://example.com/path?q=1&x=@y", "http://example.com?x", "http://a.b-c.example:443/a/b/c?d=e%20f",
        "https://example.com/" + String(repeating: "a", count: 2048 - "https://example.com/".count),
    ])
    func validServiceURLs(_ url: String) {
        #expect(Validation.serviceURLProblem(url) == nil, "\(url)")
    }

    @Test(arguments: [
        "", "ftp://example.com", "example.com", "//example.com", "http:/example.com", "http:example.com", "http://",
        "https://", "http:///path", "http://?q", "http://#x", "http://user:pw@example.com", "http://user@example.com/",
        "http://:pw@example.com", "http://example.com/#frag", "http://example.com#", "http://example.com/a b",
        "http://exa mple.com", " http://example.com", "http://example.com ", "http://example.com\n", "http://exa\tmple.com",
        "http://exämple.com", "http://example.com/é", "http://h:0", "http://h:65536", "http://h:99999999999999999999",
        "http://h:abc", "http://h:", "http://:80", "http://:80/x", "http://h:-1", "http://h:8o", "javascript:alert(1)",
        "file:///etc/passwd", "mailto:a@b", "ws://example.com", "httpx://example.com", "http://h\u{7F}",
        "https://example.com/" + String(repeating: "a", count: 2049 - "https://example.com/".count),
        "http://[::1]:0", "http://[::1]:70000",
    ])
    func invalidServiceURLs(_ url: String) {
        #expect(Validation.serviceURLProblem(url) != nil, "\(url.debugDescription)")
    }

    @Test func urlProblemsNameTheIssue() {
        #expect(Validation.serviceURLProblem("http://u:p@h")?.contains("credentials") == true)
        #expect(Validation.serviceURLProblem("http://h/#f")?.contains("fragment") == true)
        #expect(Validation.serviceURLProblem("http://h:0")?.contains("port") == true)
        #expect(Validation.serviceURLProblem("ftp://h")?.contains("http") == true)
        #expect(Validation.maxURLLength == 2048)
    }
}
