import Drivers
import GatewayCore
import Reactor

/// `MCP_AUTH=jwt`: validates bearer JWTs locally (RS256, ES256) with the keys of `JWKS_URL`,
/// fetched on the loop, cached, refreshed every few minutes and on an unknown `kid` (at most
/// once per `minInterval`, `JWKSRefreshPolicy`). Requests that arrive while the first fetch (or a
/// refetch for their `kid`) runs wait for it; nothing blocks.
@LoopActor
final class JWTAuthenticator {
    private let jwksURL: String
    private let issuer: String?
    private let audience: String?
    private let scopeClaim: String
    private let transport: any HTTPTransport
    private let log: Log
    private var keys: JWKSet?
    private var refresh: JWKSRefreshPolicy
    /// Tokens whose signature was verified with the current keys (cleared when the keys change):
    /// a client sends the same token on every request, and a signature check costs 20–70 µs
    /// while a lookup costs one hash of the string. Claims are still checked on every request.
    private var verified: [String: JWT] = [:]
    static let maxVerified = 4096
    /// Requests waiting for the fetch in flight.
    private var waiting: [() -> Void] = []
    static let maxWaiting = 10_000

    init(jwksURL: String, issuer: String?, audience: String?, scopeClaim: String, minRefreshInterval: Int, log: Log,
         transport: any HTTPTransport = ReactorHTTPClient.shared) {
        refresh = JWKSRefreshPolicy(minInterval: Int64(minRefreshInterval))
        self.jwksURL = jwksURL
        self.issuer = issuer
        self.audience = audience
        self.scopeClaim = scopeClaim
        self.transport = transport
        self.log = log
    }

    private static var now: Int64 { Int64(Timestamp.now) }

    /// Decides for `bearer` on `view` (whose resource URL is `resource`): `done` runs once, now or
    /// after a key fetch.
    func authenticate(_ bearer: String?, view: String?, resource: String, _ done: @escaping (AccessDecision) -> Void) {
        guard let bearer else { return done(.unauthorized("missing bearer token")) }
        if let jwt = verified[bearer] { return check(jwt, view: view, resource: resource, done) }
        let jwt: JWT
        do { jwt = try JWT.decode(bearer) } catch { return done(.unauthorized(error.description)) }
        if refresh.shouldFetch(now: Self.now, unknownKid: false) { fetchKeys() }
        decide(jwt, view: view, resource: resource, mayRefetch: true, done)
    }

    private func decide(_ jwt: JWT, view: String?, resource: String, mayRefetch: Bool, _ done: @escaping (AccessDecision) -> Void) {
        guard let keys else {
            guard refresh.inFlight, waiting.count < Self.maxWaiting else { return done(.unauthorized("signing keys unavailable")) }
            waiting.append { [unowned self] in self.decide(jwt, view: view, resource: resource, mayRefetch: false, done) }
            return
        }
        switch keys.verify(jwt) {
        case .success:
            if verified.count >= Self.maxVerified { verified.removeAll(keepingCapacity: true) }
            verified[compact(jwt)] = jwt
        case .failure(let e) where e.reason == .unknownKey && mayRefetch:
            if refresh.shouldFetch(now: Self.now, unknownKid: true) { fetchKeys() }
            guard refresh.inFlight, waiting.count < Self.maxWaiting else { return done(.unauthorized(e.description)) }
            waiting.append { [unowned self] in self.decide(jwt, view: view, resource: resource, mayRefetch: false, done) }
            return
        case .failure(let e):
            return done(.unauthorized(e.description))
        }
        check(jwt, view: view, resource: resource, done)
    }

    /// The token's text as the client sent it (the cache key).
    private func compact(_ jwt: JWT) -> String {
        String(decoding: jwt.signingInput, as: UTF8.self) + "." + Base64URL.encode(jwt.signature)
    }

    /// The claims of a token whose signature is good: issuer, audience, time, scope → view.
    private func check(_ jwt: JWT, view: String?, resource: String, _ done: (AccessDecision) -> Void) {
        // The audience: JWT_AUDIENCE, else this resource's URL (a view also accepts the URL of /mcp).
        var policy = JWTPolicy(issuer: issuer, audience: audience ?? resource, scopeClaim: scopeClaim)
        var checked = policy.check(jwt.claims, now: Self.now)
        if audience == nil, view != nil, case .failure(let e) = checked, e.reason == .wrongAudience,
           let slash = resource.utf8.count >= 5 ? Array(resource.utf8).lastIndex(of: UInt8(ascii: "/")) : nil {
            policy.audience = String(decoding: Array(resource.utf8)[..<slash], as: UTF8.self)  // …/mcp
            checked = policy.check(jwt.claims, now: Self.now)
        }
        switch checked {
        case .success(let p):
            done(AccessPolicy.scope(Principal(kind: .jwt, id: p.subject ?? "unknown", allViews: p.allViews, views: p.views), view: view))
        case .failure(let e) where e.reason == .missingScope:
            done(.forbidden(e.description))
        case .failure(let e):
            done(.unauthorized(e.description))
        }
    }

    private func fetchKeys() {
        var request = OutgoingRequest(url: jwksURL, timeout: 5, connectTimeout: 2)
        request.method = "GET"
        request.headers = [("Accept", "application/json")]
        spawn { [self] in
            var fetched: JWKSet?
            do {
                let response = try await transport.perform(request)
                if response.head.status == 200 { fetched = try JWKSet(json: response.body) } else {
                    log(.warn, "JWKS fetch failed", [("status", String(response.head.status))])
                }
            } catch {
                log(.warn, "JWKS fetch failed", [("error", "\(error)")])
            }
            refresh.fetched(now: Self.now, ok: fetched != nil)
            if let fetched {
                keys = fetched
                verified.removeAll()
                log(.info, "JWKS loaded", [("keys", String(fetched.count))])
            }
            let ready = waiting
            waiting = []
            for resume in ready { resume() }
        }
    }
}
