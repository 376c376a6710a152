import Testing
@testable import GatewayCore

@Suite struct JWTPolicyTests {
    static let now: Int64 = 1_700_000_000

    /// Claims from a JSON text, with `exp` an hour ahead unless the text sets it.
    func claims(_ members: String) -> JSON {
        let base = parsed("{\(members)}")!
        return base["exp"] == nil ? base.setting("exp", .int(Int(Self.now) + 3600)) : base
    }

    func check(_ policy: JWTPolicy, _ members: String) -> Result<JWTPrincipal, JWTError> {
        policy.check(claims(members), now: Self.now)
    }

    func check(_ members: String) -> Result<JWTPrincipal, JWTError> { check(JWTPolicy(), members) }

    func error(_ result: Result<JWTPrincipal, JWTError>) -> JWTError? {
        if case .failure(let e) = result { return e }
        return nil
    }

    // MARK: time

    @Test func expiryHonoursTheLeewayToTheSecond() {
        let policy = JWTPolicy(leeway: 60)
        for (exp, ok) in [(Self.now + 1, true), (Self.now, true), (Self.now - 59, true), (Self.now - 60, false), (Self.now - 3600, false)] {
            let result = check(policy, #""exp":\#(exp),"scope":"mcp:*""#)
            #expect(error(result) == (ok ? nil : .expired), "exp = now \(exp - Self.now)")
        }
        #expect(error(check(JWTPolicy(leeway: 0), #""exp":\#(Self.now),"scope":"mcp:*""#)) == .expired)
        #expect(error(check(JWTPolicy(leeway: 0), #""exp":\#(Self.now + 1),"scope":"mcp:*""#)) == nil)
    }

    @Test func expiryIsRequiredAndANumber() {
        #expect(error(JWTPolicy().check(parsed(#"{"scope":"mcp:*"}"#)!, now: Self.now)) == .malformed)
        for exp in [#""1800000000""#, "null", "true", "[1800000000]"] {
            #expect(error(check(#""exp":\#(exp),"scope":"mcp:*""#)) == .malformed, "exp = \(exp)")
        }
    }

    @Test func fractionalAndExponentTimesAreNumericDates() {
        #expect(error(check(#""exp":\#(Self.now - 60).5,"scope":"mcp:*""#)) == nil)
        #expect(error(check(#""exp":\#(Self.now - 61).5,"scope":"mcp:*""#)) == .expired)
        #expect(error(check(#""exp":1.8e9,"scope":"mcp:*""#)) == nil)
        #expect(error(check(#""exp":1.6e9,"scope":"mcp:*""#)) == .expired)
    }

    @Test func notBeforeHonoursTheLeeway() {
        let policy = JWTPolicy(leeway: 30)
        for (nbf, ok) in [(Self.now - 100, true), (Self.now, true), (Self.now + 30, true), (Self.now + 31, false)] {
            #expect(error(check(policy, #""nbf":\#(nbf),"scope":"mcp:*""#)) == (ok ? nil : .notYetValid), "nbf = now + \(nbf - Self.now)")
        }
        #expect(error(check(#""nbf":"soon","scope":"mcp:*""#)) == .malformed)
        #expect(error(check(#""scope":"mcp:*""#)) == nil, "nbf is optional")
    }

    // MARK: issuer and audience

    @Test func theIssuerMustMatchExactlyWhenConfigured() {
        let policy = JWTPolicy(issuer: "https://id.example.com/")
        #expect(error(check(policy, #""iss":"https://id.example.com/","scope":"mcp:*""#)) == nil)
        for iss in [#""https://id.example.com""#, #""https://ID.example.com/""#, #"["https://id.example.com/"]"#, "null"] {
            #expect(error(check(policy, #""iss":\#(iss),"scope":"mcp:*""#)) == .wrongIssuer, "iss = \(iss)")
        }
        #expect(error(check(policy, #""scope":"mcp:*""#)) == .wrongIssuer, "a missing iss")
        #expect(error(check(#""iss":"anyone","scope":"mcp:*""#)) == nil, "no issuer configured")
    }

    @Test func theAudienceIsAStringOrAnArrayContainingIt() {
        let policy = JWTPolicy(audience: "mcp-gateway")
        for aud in [#""mcp-gateway""#, #"["mcp-gateway"]"#, #"["other","mcp-gateway"]"#, #"[1,null,"mcp-gateway"]"#] {
            #expect(error(check(policy, #""aud":\#(aud),"scope":"mcp:*""#)) == nil, "aud = \(aud)")
        }
        for aud in [#""other""#, #""mcp-gateway2""#, #"["other"]"#, "[]", #""mcp-gateway other""#, "null", "42", #"{"aud":"mcp-gateway"}"#] {
            #expect(error(check(policy, #""aud":\#(aud),"scope":"mcp:*""#)) == .wrongAudience, "aud = \(aud)")
        }
        #expect(error(check(policy, #""scope":"mcp:*""#)) == .wrongAudience, "a missing aud")
        #expect(error(check(#""aud":"other","scope":"mcp:*""#)) == nil, "no audience configured")
    }

    // MARK: scope

    @Test func aScopeStringGrantsTheViewsItNames() throws {
        let p = try check(#""sub":"alice","scope":"openid mcp:billing profile mcp:search  mcp:billing""#).get()
        #expect(p == JWTPrincipal(subject: "alice", allViews: false, views: ["billing", "search"]))
        #expect(p.mayUse(view: "billing") && p.mayUse(view: "search") && !p.mayUse(view: "admin"))
    }

    @Test func mcpStarGrantsEveryView() throws {
        let p = try check(#""scope":"openid mcp:*""#).get()
        #expect(p.allViews && p.views.isEmpty && p.subject == nil)
        #expect(p.mayUse(view: "anything"))
    }

    @Test func anArrayClaimGrantsTheSame() throws {
        let policy = JWTPolicy(scopeClaim: "roles")
        let p = try check(policy, #""roles":["reader","mcp:billing",7,"mcp:*"]"#).get()
        #expect(p.allViews && p.views == ["billing"])
        let scp = try check(JWTPolicy(scopeClaim: "scp"), #""scp":["mcp:search"],"scope":"mcp:*""#).get()
        #expect(!scp.allViews && scp.views == ["search"], "only the configured claim counts")
    }

    @Test func theScopePrefixIsConfigurable() throws {
        let policy = JWTPolicy(scopePrefix: "gateway/")
        #expect(try check(policy, #""scope":"gateway/billing mcp:*""#).get().views == ["billing"])
        #expect(error(check(policy, #""scope":"mcp:*""#)) == .missingScope)
    }

    @Test(arguments: [#""scope":"openid profile""#, #""scope":"""#, #""scope":"mcp:""#, #""scope":"MCP:*""#,
                      #""scope":"xmcp:*""#, #""scope":["openid"]"#, #""scope":[]"#, #""scope":42"#, #""scope":null"#,
                      #""scp":"mcp:*""#, ""])
    func noMCPEntryIsMissingScope(_ members: String) {
        #expect(error(check(members)) == .missingScope, "\(members)")
    }

    @Test func checksRunInOrderExpiryFirst() {
        let policy = JWTPolicy(issuer: "i", audience: "a")
        #expect(error(check(policy, #""exp":1,"iss":"x","aud":"x""#)) == .expired)
        #expect(error(check(policy, #""iss":"x","aud":"x""#)) == .wrongIssuer)
        #expect(error(check(policy, #""iss":"i","aud":"x""#)) == .wrongAudience)
        #expect(error(check(policy, #""iss":"i","aud":"a""#)) == .missingScope)
        #expect(error(check(policy, #""iss":"i","aud":"a","scope":"mcp:x""#)) == nil)
    }
}
