import Testing
@testable import GatewayCore

@Suite struct AccessPolicyTests {
    static let now: Int64 = 1_800_000_000_000

    static func config(_ tokens: [(secret: String, views: [String], expires: Int64?)]) -> AccessConfig {
        AccessConfig(virtualServers: [VirtualServer(name: "team")], tokens: tokens.enumerated().map { i, t in
            AccessToken(id: "id\(i)", name: "t\(i)", hash: AccessToken.hash(secret: t.secret), virtualServers: t.views, expiresAt: t.expires,
                        perMinute: i == 0 ? 60 : nil)
        })
    }

    @Test(arguments: [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc", "abc"), ("Basic abc", nil), ("Bearer ", nil),
                      ("Bearer a b", nil), ("Bearerabc", nil)] as [(String, String?)])
    func readsTheBearerCredential(_ header: String, _ expected: String?) {
        #expect(AccessPolicy.bearer(header) == expected)
    }

    @Test func tokensAreFoundByHashAndScoped() {
        let access = Self.config([("mgt_all", [], nil), ("mgt_team", ["team"], nil), ("mgt_old", [], Self.now - 1)])
        guard case .allow(let p) = AccessPolicy.token("mgt_all", access: access, view: nil, nowMs: Self.now) else {
            Issue.record("an unscoped token was refused on /mcp"); return
        }
        #expect(p.kind == .token && p.id == "id0" && p.allViews && p.perMinute == 60 && p.label == "tok:id0")
        #expect(AccessPolicy.token("mgt_all", access: access, view: "team", nowMs: Self.now) == .allow(p))
        guard case .allow = AccessPolicy.token("mgt_team", access: access, view: "team", nowMs: Self.now) else {
            Issue.record("a scoped token was refused on its view"); return
        }
        guard case .forbidden = AccessPolicy.token("mgt_team", access: access, view: nil, nowMs: Self.now),
              case .forbidden = AccessPolicy.token("mgt_team", access: access, view: "other", nowMs: Self.now) else {
            Issue.record("a scoped token reached /mcp or another view"); return
        }
        #expect(AccessPolicy.token("mgt_old", access: access, view: nil, nowMs: Self.now) == .unauthorized("token expired"))
        #expect(AccessPolicy.token("mgt_none", access: access, view: nil, nowMs: Self.now) == .unauthorized("invalid token"))
        #expect(AccessPolicy.token(nil, access: access, view: nil, nowMs: Self.now) == .unauthorized("missing bearer token"))
    }

    @Test func mintedSecretsAreDistinctAndOnlyTheirHashIsKept() {
        let a = AccessToken.mint(random: Array(repeating: 1, count: 38)), b = AccessToken.mint(random: Array(repeating: 2, count: 38))
        #expect(a.secret != b.secret && a.id != b.id && a.id.count == 12 && a.secret.hasPrefix("mgt_") && a.secret.count == 47)
        let hash = AccessToken.hash(secret: a.secret)
        #expect(hash.count == 64 && !hash.contains(a.secret))
        let token = AccessToken(id: a.id, name: "n", hash: hash, virtualServers: [], expiresAt: nil, perMinute: nil)
        #expect(!token.json.serialized().description.contains(hash))
        #expect(token.json["token"] == nil && token.json["hash"] == nil)
    }

    @Test func parsesTokenRequests() throws {
        func parse(_ s: String) -> Result<AccessToken.Request, ValidationError> {
            AccessToken.parse(try! JSONParser.parse(Array(s.utf8)), nowMs: Self.now)
        }
        let r = try parse(#"{"name":"ci","virtualServers":["team","team"],"expiresAt":"2027-06-01T00:00:00Z","rateLimit":{"perMinute":10}}"#).get()
        #expect(r.virtualServers == ["team"] && r.perMinute == 10 && r.expiresAt == Timestamp.parse("2027-06-01T00:00:00Z"))
        #expect(try parse(#"{"name":"ci","expiresAt":1900000000}"#).get().expiresAt == 1_900_000_000_000)
        for bad in [#"{"name":""}"#, #"{"name":"x","expiresAt":1}"#, #"{"name":"x","expiresAt":"tomorrow"}"#,
                    #"{"name":"x","virtualServers":["Bad"]}"#, #"{"name":"x","scope":"*"}"#] {
            guard case .failure = parse(bad) else { Issue.record("accepted \(bad)"); continue }
        }
    }

    @Test func challengesNameTheMetadata() {
        #expect(AccessPolicy.challenge(metadataURL: "http://g/m", invalidToken: false) == #"Bearer resource_metadata="http://g/m""#)
        #expect(AccessPolicy.challenge(metadataURL: "http://g/m", invalidToken: true).contains(#"error="invalid_token""#))
    }
}
