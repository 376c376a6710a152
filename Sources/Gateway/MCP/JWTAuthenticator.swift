import GatewayCore
import Reactor

/// `MCP_AUTH=jwt`: validates bearer JWTs against the keys of `JWKS_URL`.
@LoopActor
final class JWTAuthenticator {
    func authenticate(_ bearer: String?, view: String?, resource: String, _ done: @escaping (AccessDecision) -> Void) {
        done(.unauthorized("JWT validation is not available"))
    }
}
