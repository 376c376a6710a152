import GatewayCore
import Glibc
import HTTP
import Reactor

/// The admin routes of access: virtual servers (`/virtual-servers`) and client tokens (`/tokens`),
/// with the same key, error shape and validation rules as services.
extension AdminAPI {
    func mountAccess(on router: Router) {
        router.add("POST", "/virtual-servers") { [unowned self] r, c in self.guarded(r, c) { try await self.createView(r) } }
        router.add("PUT", "/virtual-servers/:name") { [unowned self] r, c in self.guarded(r, c) { try await self.replaceView(r) } }
        router.add("DELETE", "/virtual-servers/:name") { [unowned self] r, c in self.guarded(r, c) { try await self.deleteView(r) } }
        router.add("GET", "/virtual-servers") { [unowned self] r, c in self.guarded(r, c) { try await self.listViews() } }
        router.add("GET", "/virtual-servers/:name") { [unowned self] r, c in self.guarded(r, c) { try await self.showView(r) } }
        router.add("POST", "/tokens") { [unowned self] r, c in self.guarded(r, c) { try await self.createToken(r) } }
        router.add("GET", "/tokens") { [unowned self] r, c in self.guarded(r, c) { try await self.listTokens() } }
        router.add("DELETE", "/tokens/:id") { [unowned self] r, c in self.guarded(r, c) { try await self.revokeToken(r) } }
    }

    private static func parsed<T>(_ result: Result<T, ValidationError>) throws(AdminError) -> T {
        switch result {
        case .success(let v): return v
        case .failure(let e): throw AdminError.badRequest(e.description)
        }
    }

    private static func changed(_ body: JSON, _ change: RegistryChange, _ signal: String) -> JSON {
        body.setting("version", .number(String(change.version))).setting("redis", .string(signal))
    }

    private func createView(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let vs = try Self.parsed(VirtualServer.parse(try Self.jsonBody(request, required: true)))
        let (change, signal) = try await registry.mutateAccess(.createVirtualServer(vs))
        return .json(201, Self.changed(try await storedView(vs.name).json, change, signal))
    }

    private func replaceView(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let name = try Self.viewName(request)
        let vs = try Self.parsed(VirtualServer.parse(try Self.jsonBody(request, required: true), name: name))
        let (change, signal) = try await registry.mutateAccess(.replaceVirtualServer(vs))
        return .json(200, Self.changed(try await storedView(name).json, change, signal))
    }

    private func deleteView(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let name = try Self.viewName(request)
        let (change, signal) = try await registry.mutateAccess(.deleteVirtualServer(name))
        return .json(200, Self.changed(.object([("deleted", .string(name))]), change, signal))
    }

    private func listViews() async throws(AdminError) -> HTTPResponse {
        let views = try await registry.accessConfig().virtualServers.values.sorted { $0.name < $1.name }
        return .json(200, .object([("virtualServers", .array(views.map(\.json))), ("count", .int(views.count))]))
    }

    private func showView(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        .json(200, try await storedView(try Self.viewName(request)).json)
    }

    private static func viewName(_ request: HTTPRequest) throws(AdminError) -> String {
        let name = request.parameters["name"] ?? ""
        if Validation.serviceNameProblem(name) != nil { throw AdminError.notFound("no virtual server named \(name)") }
        return name
    }

    private func storedView(_ name: String) async throws(AdminError) -> VirtualServer {
        guard let vs = try await registry.accessConfig().virtualServers[name] else { throw AdminError.notFound("no virtual server named \(name)") }
        return vs
    }

    private func createToken(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let nowMs = Int64(Timestamp.now * 1000)
        let asked = try Self.parsed(AccessToken.parse(try Self.jsonBody(request, required: true), nowMs: nowMs))
        let known = try await registry.accessConfig().virtualServers
        if let missing = asked.virtualServers.first(where: { known[$0] == nil }) {
            throw AdminError.badRequest("no virtual server named \(missing)")
        }
        var rng = SystemRandomNumberGenerator()
        let (id, secret) = AccessToken.mint(random: (0..<38).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let token = AccessToken(id: id, name: asked.name, hash: AccessToken.hash(secret: secret), virtualServers: asked.virtualServers,
                                expiresAt: asked.expiresAt, perMinute: asked.perMinute, createdAt: Timestamp.iso8601(Timestamp.now))
        let (change, signal) = try await registry.mutateAccess(.createToken(token))
        // The secret is in this response alone: it is not stored, and never logged.
        return .json(201, Self.changed(token.json.setting("token", .string(secret)), change, signal))
    }

    private func listTokens() async throws(AdminError) -> HTTPResponse {
        let tokens = try await registry.accessConfig().tokens.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        let nowMs = Int64(Timestamp.now * 1000)
        return .json(200, .object([
            ("tokens", .array(tokens.map { $0.json.setting("expired", .bool($0.isExpired(nowMs: nowMs))) })), ("count", .int(tokens.count)),
        ]))
    }

    private func revokeToken(_ request: HTTPRequest) async throws(AdminError) -> HTTPResponse {
        let id = request.parameters["id"] ?? ""
        guard id.utf8.count == 12, id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw AdminError.notFound("no live token with id \(id.prefix(40))")
        }
        let (change, signal) = try await registry.mutateAccess(.revokeToken(id: id))
        return .json(200, Self.changed(.object([("revoked", .string(id))]), change, signal))
    }
}
