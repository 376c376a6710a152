/// Everything the gateway reads from its environment, validated once at start.
public struct Configuration: Sendable {
    public enum Environment: String, Sendable { case development, production }
    public enum LogFormat: String, Sendable { case text, json }

    public enum Storage: Sendable, Equatable {
        case postgres(PostgresSettings)
        case sqlite(path: String)
    }

    public struct PostgresSettings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String
        public var database: String
        public var sslmode: String?
        public init(host: String, port: Int, user: String, password: String, database: String, sslmode: String? = nil) {
            self.host = host; self.port = port; self.user = user; self.password = password
            self.database = database; self.sslmode = sslmode
        }
    }

    public struct RedisSettings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var password: String?
        public var username: String?
        public var database: Int
    }

    public var host = "127.0.0.1"
    public var port = 3000
    public var environment = Environment.development
    public var storage = Storage.sqlite(path: "./data/mcp-gateway.db")
    public var redis: RedisSettings?
    public var apiKey: String?
    public var sessionSecret: String?
    public var logLevel = "info"
    public var logFormat = LogFormat.text
    public var maxBodyBytes = 4 * 1024 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var requestTimeout = 30.0
    public var idleTimeout = 60.0
    public var shutdownTimeout = 10.0
    public var maxConnections = 10_000
    public var reusePort = false
    public var testRoutes = false
    public var dbPoolSize = 4
    public var dbStatementTimeout = 5.0
    public var dbConnectTimeout = 2.0
    public var downstreamConnectTimeout = 5.0
    public var downstreamTimeout = 30.0
    /// An extra PEM bundle of CAs trusted for https downstreams, besides the system store
    /// (`DOWNSTREAM_CA_FILE`). Read and checked when the gateway starts.
    public var downstreamCAFile: String?
    public var toolCallTimeout = 60.0
    public var toolsPageSize = 500
    public var toolsMaxPages = 100
    public var versionCheckInterval = 1.0
    public var allowedOrigins: [String] = []
    public var sseKeepAlive = 15.0
    /// Seconds between this replica's health checks of each downstream (jittered ±20%).
    public var healthCheckInterval = 15.0
    /// Consecutive failures that open a downstream's circuit, and how long it stays open.
    public var circuitFailureThreshold = 5
    public var circuitCoolDown = 10.0
    /// Consecutive failed checks or calls that mark a downstream `down`.
    public var healthDownAfter = 2
    /// Median latency (seconds) of recent successes above which a downstream is `degraded`.
    public var healthDegradedLatency = 1.0
    /// How long a call waits for a slot under a service's `maxConcurrent` before it is refused.
    public var callQueueWait = 1.0
    /// Refuse updates that change a definition's input schema or annotations under the same name
    /// until an operator confirms the new hashes (`?accept=`).
    public var pinDefinitions = false
    /// What lists show of a service that is `down`: its tools stay (`keep`) or are left out (`hide`).
    public var downPolicy = DownPolicy.keep
    /// Hold each downstream's notification stream and re-fetch a service when it says a list changed.
    public var watchDownstreams = true
    /// Seconds between this replica's heartbeats on `mcp:replicas`; peers silent for 3 of them are gone.
    public var replicaHeartbeatInterval = 5.0

    public enum DownPolicy: String, Sendable { case keep, hide }

    /// Client authentication on `/mcp` and its views (`MCP_AUTH`).
    public var authMode = AuthMode.none
    /// `MCP_AUTH=jwt`: where the signing keys are, and what the claims must say.
    public var jwksURL: String?
    public var jwtIssuer: String?
    /// nil: the resource's own URL (`PUBLIC_URL` + the path asked for).
    public var jwtAudience: String?
    public var jwtScopeClaim = "scope"
    /// The shortest time between two JWKS fetches asked for by unknown `kid`s (seconds).
    public var jwksMinRefreshInterval = 30
    /// The gateway's external base URL (`https://mcp.example.com`), for the protected-resource
    /// metadata and the JWT audience; nil: taken from each request's Host header.
    public var publicURL: String?
    /// The authorization servers the metadata names (default: the JWT issuer when set).
    public var authorizationServers: [String] = []
    /// One log line per tool call, resource read and prompt get; with tool arguments when asked.
    public var auditLog = true
    public var auditArguments = false
    /// Calls per minute per client and tool when neither its token nor its view sets a limit.
    public var rateLimitPerMinute: Int?
    /// OTLP/HTTP collector for traces (`OTEL_EXPORTER_OTLP_ENDPOINT`); nil: tracing off.
    public var otlpEndpoint: String?

    public init() {}

    /// Reads the configuration from `env`. The error names the variable and what is wrong with it.
    public static func load(from env: [String: String]) throws(ConfigurationError) -> Configuration {
        var c = Configuration()
        func value(_ name: String) -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            return v
        }
        func int(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let v = value(name) else { return nil }
            guard let i = Int(v), range.contains(i) else {
                throw ConfigurationError(variable: name, problem: "must be an integer in \(range.lowerBound)...\(range.upperBound), got \(v.debugDescription)")
            }
            return i
        }
        func seconds(_ name: String) throws(ConfigurationError) -> Double? {
            guard let v = value(name) else { return nil }
            guard let d = Double(v), d > 0, d <= 86_400 else {
                throw ConfigurationError(variable: name, problem: "must be a number of seconds greater than 0, got \(v.debugDescription)")
            }
            return d
        }
        if let h = value("HOST") { c.host = h }
        if let p = try int("PORT", 0...65535) { c.port = p }
        if let e = value("NODE_ENV") ?? value("APP_ENV") {
            guard let env = Environment(rawValue: e.lowercased()) else {
                throw ConfigurationError(variable: value("NODE_ENV") != nil ? "NODE_ENV" : "APP_ENV",
                                         problem: "must be development or production, got \(e.debugDescription)")
            }
            c.environment = env
        }
        if let url = value("DATABASE_URL") {
            c.storage = try parseDatabaseURL(url)
        } else if value("DB_HOST") != nil || value("DB_DATABASE") != nil || value("DB_USERNAME") != nil {
            c.storage = .postgres(PostgresSettings(
                host: value("DB_HOST") ?? "localhost",
                port: try int("DB_PORT", 1...65535) ?? 5432,
                user: value("DB_USERNAME") ?? "postgres",
                password: env["DB_PASSWORD"] ?? "",
                database: value("DB_DATABASE") ?? "mcp_registry",
                sslmode: value("DB_SSLMODE")))
        } else if let path = value("SQLITE_PATH") {
            c.storage = .sqlite(path: path)
        }
        if let r = value("REDIS_URL") { c.redis = try parseRedisURL(r) }
        c.apiKey = value("API_KEY")
        if let key = c.apiKey, key.utf8.count < 8 {
            throw ConfigurationError(variable: "API_KEY", problem: "must be at least 8 characters long")
        }
        if c.environment == .production && c.apiKey == nil {
            throw ConfigurationError(variable: "API_KEY", problem: "is required when NODE_ENV=production")
        }
        c.sessionSecret = value("SESSION_SECRET")
        if let s = c.sessionSecret, s.utf8.count < 16 {
            throw ConfigurationError(variable: "SESSION_SECRET", problem: "must be at least 16 characters long")
        }
        if let l = value("LOG_LEVEL") {
            guard ["trace", "debug", "info", "warn", "error"].contains(l.lowercased()) else {
                throw ConfigurationError(variable: "LOG_LEVEL", problem: "must be one of trace, debug, info, warn, error; got \(l.debugDescription)")
            }
            c.logLevel = l.lowercased()
        }
        if let f = value("LOG_FORMAT") {
            guard let fmt = LogFormat(rawValue: f.lowercased()) else {
                throw ConfigurationError(variable: "LOG_FORMAT", problem: "must be text or json, got \(f.debugDescription)")
            }
            c.logFormat = fmt
        }
        if let v = try int("MAX_BODY_BYTES", 1024...(1 << 30)) { c.maxBodyBytes = v }
        if let v = try int("MAX_HEADER_BYTES", 1024...(1 << 20)) { c.maxHeaderBytes = v }
        if let v = try seconds("REQUEST_TIMEOUT") { c.requestTimeout = v }
        if let v = try seconds("IDLE_TIMEOUT") { c.idleTimeout = v }
        if let v = try seconds("SHUTDOWN_TIMEOUT") { c.shutdownTimeout = v }
        if let v = try int("MAX_CONNECTIONS", 1...1_000_000) { c.maxConnections = v }
        if let v = value("REUSE_PORT") { c.reusePort = try bool("REUSE_PORT", v) }
        if let v = value("GATEWAY_TEST_ROUTES") { c.testRoutes = try bool("GATEWAY_TEST_ROUTES", v) }
        if let v = try int("DB_POOL_SIZE", 1...64) { c.dbPoolSize = v }
        if let v = try seconds("DB_STATEMENT_TIMEOUT") { c.dbStatementTimeout = v }
        if let v = try seconds("DB_CONNECT_TIMEOUT") { c.dbConnectTimeout = v }
        if let v = try seconds("DOWNSTREAM_CONNECT_TIMEOUT") { c.downstreamConnectTimeout = v }
        if let v = try seconds("DOWNSTREAM_TIMEOUT") { c.downstreamTimeout = v }
        c.downstreamCAFile = value("DOWNSTREAM_CA_FILE")
        if let v = try seconds("TOOL_CALL_TIMEOUT") { c.toolCallTimeout = v }
        if let v = try int("TOOLS_PAGE_SIZE", 1...100_000) { c.toolsPageSize = v }
        if let v = try seconds("VERSION_CHECK_INTERVAL") { c.versionCheckInterval = v }
        if let v = try seconds("SSE_KEEPALIVE") { c.sseKeepAlive = v }
        if let v = try seconds("HEALTH_CHECK_INTERVAL") { c.healthCheckInterval = v }
        if let v = try int("CIRCUIT_FAILURE_THRESHOLD", 1...1000) { c.circuitFailureThreshold = v }
        if let v = try seconds("CIRCUIT_COOL_DOWN") { c.circuitCoolDown = v }
        if let v = try int("HEALTH_DOWN_AFTER", 1...100) { c.healthDownAfter = v }
        if let v = try seconds("HEALTH_DEGRADED_LATENCY") { c.healthDegradedLatency = v }
        if let v = try seconds("CALL_QUEUE_WAIT") { c.callQueueWait = v }
        if let v = try seconds("REPLICA_HEARTBEAT_INTERVAL") { c.replicaHeartbeatInterval = v }
        if let v = value("WATCH_DOWNSTREAMS") { c.watchDownstreams = try bool("WATCH_DOWNSTREAMS", v) }
        if let v = value("PIN_DEFINITIONS") { c.pinDefinitions = try bool("PIN_DEFINITIONS", v) }
        if let v = value("HEALTH_DOWN_POLICY") {
            guard let p = DownPolicy(rawValue: v.lowercased()) else {
                throw ConfigurationError(variable: "HEALTH_DOWN_POLICY", problem: "must be keep or hide, got \(v.debugDescription)")
            }
            c.downPolicy = p
        }
        if let v = value("MCP_AUTH") {
            guard let mode = AuthMode(rawValue: v.lowercased()) else {
                throw ConfigurationError(variable: "MCP_AUTH", problem: "must be none, token or jwt, got \(v.debugDescription)")
            }
            c.authMode = mode
        }
        for name in ["JWKS_URL", "PUBLIC_URL"] {
            if let v = value(name), let problem = Validation.serviceURLProblem(v) {
                throw ConfigurationError(variable: name, problem: problem)
            }
        }
        c.jwksURL = value("JWKS_URL")
        c.jwtIssuer = value("JWT_ISSUER")
        c.jwtAudience = value("JWT_AUDIENCE")
        if let v = value("JWT_SCOPE_CLAIM") { c.jwtScopeClaim = v }
        if let v = try int("JWKS_MIN_REFRESH_INTERVAL", 1...3600) { c.jwksMinRefreshInterval = v }
        c.publicURL = value("PUBLIC_URL").map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        if c.authMode == .jwt && c.jwksURL == nil {
            throw ConfigurationError(variable: "JWKS_URL", problem: "is required when MCP_AUTH=jwt")
        }
        // Signing keys over plain http could be swapped on the way: https, except on this machine.
        if let jwks = c.jwksURL, jwks.lowercased().hasPrefix("http://"),
           !["http://127.0.0.1", "http://localhost", "http://[::1]"].contains(where: { jwks.lowercased().hasPrefix($0 + ":") || jwks.lowercased().hasPrefix($0 + "/") }) {
            throw ConfigurationError(variable: "JWKS_URL", problem: "must be https (plain http only to 127.0.0.1, localhost or [::1])")
        }
        // The default audience is this resource's URL; taken from a client's Host header it would
        // be the client's choice.
        if c.authMode == .jwt && c.jwtAudience == nil && c.publicURL == nil {
            throw ConfigurationError(variable: "JWT_AUDIENCE", problem: "or PUBLIC_URL is required when MCP_AUTH=jwt (the audience tokens must name)")
        }
        if let v = value("AUTHORIZATION_SERVERS") {
            c.authorizationServers = v.split(separator: ",").map { String($0).trimmingCharacters(" ") }.filter { !$0.isEmpty }
        } else if let issuer = c.jwtIssuer {
            c.authorizationServers = [issuer]
        }
        if let v = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            if let problem = Validation.serviceURLProblem(v) { throw ConfigurationError(variable: "OTEL_EXPORTER_OTLP_ENDPOINT", problem: problem) }
            c.otlpEndpoint = v
        }
        if let v = value("AUDIT_LOG") { c.auditLog = try bool("AUDIT_LOG", v) }
        if let v = value("AUDIT_ARGUMENTS") { c.auditArguments = try bool("AUDIT_ARGUMENTS", v) }
        if let v = try int("RATE_LIMIT_PER_MINUTE", 1...RateLimitSpec.maxPerMinute) { c.rateLimitPerMinute = v }
        if let v = value("ALLOWED_ORIGINS") {
            c.allowedOrigins = v.split(separator: ",").map { String($0).trimmingCharacters(" ") }.filter { !$0.isEmpty }
        }
        return c
    }

    static func bool(_ name: String, _ v: String) throws(ConfigurationError) -> Bool {
        switch v.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(variable: name, problem: "must be true or false, got \(v.debugDescription)")
        }
    }

    static func parseDatabaseURL(_ url: String) throws(ConfigurationError) -> Storage {
        if url.hasPrefix("sqlite:") {
            var path = String(url.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ConfigurationError(variable: "DATABASE_URL", problem: "sqlite: needs a file path") }
            return .sqlite(path: path)
        }
        guard let u = URLParts(url), u.scheme == "postgres" || u.scheme == "postgresql" else {
            throw ConfigurationError(variable: "DATABASE_URL", problem: "must be postgres://user:password@host:port/database or sqlite:PATH")
        }
        let db = u.path.isEmpty ? "mcp_registry" : u.path
        var sslmode: String?
        for (k, v) in u.query where k == "sslmode" { sslmode = v }
        return .postgres(PostgresSettings(host: u.host.isEmpty ? "localhost" : u.host, port: u.port ?? 5432,
                                          user: u.user ?? "postgres", password: u.password ?? "", database: db, sslmode: sslmode))
    }

    static func parseRedisURL(_ url: String) throws(ConfigurationError) -> RedisSettings {
        guard let u = URLParts(url), u.scheme == "redis", !u.host.isEmpty else {
            throw ConfigurationError(variable: "REDIS_URL", problem: "must be redis://[:password@]host:port[/db]")
        }
        var db = 0
        if !u.path.isEmpty {
            guard let d = Int(u.path), d >= 0, d < 1024 else {
                throw ConfigurationError(variable: "REDIS_URL", problem: "database must be a number")
            }
            db = d
        }
        return RedisSettings(host: u.host, port: u.port ?? 6379, password: u.password, username: u.user.flatMap { $0.isEmpty ? nil : $0 }, database: db)
    }

    /// The listening URL for humans.
    public var listenURL: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "http://\(h == "0.0.0.0" ? "127.0.0.1" : h):\(port)"
    }
}

public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let variable: String
    public let problem: String
    public var description: String { "configuration error: \(variable) \(problem)" }
}

/// Just enough URL parsing for connection URLs: scheme://user:password@host:port/path?query.
struct URLParts {
    var scheme: String
    var user: String?
    var password: String?
    var host: String
    var port: Int?
    var path: String
    var query: [(String, String)] = []

    init?(_ url: String) {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        scheme = String(url[..<colon]).lowercased()
        var rest = String(url[url.index(colon, offsetBy: 3)...])
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                query.append((String(kv[0]), kv.count > 1 ? String(kv[1]) : ""))
            }
            rest = String(rest[..<q])
        }
        var authority = rest
        path = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = String(rest[..<slash])
            path = String(rest[rest.index(after: slash)...])
        }
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = String(authority[authority.index(after: at)...])
            if let colon = userinfo.firstIndex(of: ":") {
                user = percentDecode(String(userinfo[..<colon]))
                password = percentDecode(String(userinfo[userinfo.index(after: colon)...]))
            } else {
                user = percentDecode(String(userinfo))
            }
        }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return nil }; port = p }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            host = authority
        }
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are).
public func percentDecode(_ s: String) -> String {
    guard s.contains("%") else { return s }
    var out: [UInt8] = []
    var bytes = Array(s.utf8)[...]
    while let b = bytes.first {
        bytes = bytes.dropFirst()
        if b == UInt8(ascii: "%"), bytes.count >= 2,
           let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
            out.append(v)
            bytes = bytes.dropFirst(2)
        } else {
            out.append(b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

extension String {
    func trimmingCharacters(_ c: Character) -> String {
        var s = self[...]
        while s.first == c { s = s.dropFirst() }
        while s.last == c { s = s.dropLast() }
        return String(s)
    }
}
