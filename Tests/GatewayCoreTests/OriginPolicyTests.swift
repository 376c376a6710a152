import Testing
@testable import GatewayCore

@Suite struct OriginPolicyTests {
    static let none = OriginPolicy(allowed: [])

    @Test(arguments: [
        "http://localhost", "https://localhost", "http://localhost:3000", "https://localhost:8443", "http://localhost:1",
        "http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:5173", "http://[::1]", "https://[::1]", "http://[::1]:8080",
        "https://[::1]:65535",
    ])
    func loopbackOriginsAreAlwaysAllowed(_ origin: String) {
        #expect(Self.none.allows(origin))
        #expect(OriginPolicy(allowed: ["https://app.example.com"]).allows(origin))
    }

    @Test(arguments: [
        "http://localhost.evil.com", "https://localhost.evil.com", "http://localhost.", "http://localhostx",
        "http://localhost:3000.evil.com", "http://localhost:3000@evil.com", "http://localhost:", "http://localhost:abc",
        "http://localhost:80/", "http://localhost/", "http://127.0.0.1.evil.com", "http://127.0.0.10", "http://127.0.0.1:80x",
        "http://[::1].evil.com", "http://[::1]x", "http://evil.com", "https://example.com", "null", "", "localhost",
        "ftp://localhost", "http://evil.com/http://localhost", "http://localhost :80", "file://",
        "http://localhost.80", "http://localhostx8080", "http://127.0.0.100", "http://127.0.0.1080", "https://[::1]0",
    ])
    func otherOriginsAreRefusedByDefault(_ origin: String) {
        #expect(!Self.none.allows(origin), "\(origin)")
    }

    @Test func configuredOriginsAreAllowedExactly() {
        let policy = OriginPolicy(allowed: ["https://app.example.com", "http://dev.example.com:8080"])
        #expect(policy.allows("https://app.example.com"))
        #expect(policy.allows("http://dev.example.com:8080"))
        #expect(!policy.allows("http://app.example.com"))
        #expect(!policy.allows("https://app.example.com:443"))
        #expect(!policy.allows("https://app.example.com.evil.com"))
        #expect(!policy.allows("https://evil.app.example.com"))
        #expect(!policy.allows("http://dev.example.com"))
        #expect(!policy.allows("http://localhost.evil.com"))
    }

    @Test func wildcardAllowsEverything() {
        let policy = OriginPolicy(allowed: ["*"])
        for origin in ["https://anything.example", "http://localhost.evil.com", "null", "http://x:1"] {
            #expect(policy.allows(origin))
        }
        #expect(OriginPolicy(allowed: ["https://a.example", "*"]).allows("https://b.example"))
    }

    @Test func allowedIsKept() {
        #expect(OriginPolicy(allowed: ["a", "b"]).allowed == ["a", "b"])
    }
}
