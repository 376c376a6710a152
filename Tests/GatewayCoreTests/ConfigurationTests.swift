import Testing
@testable import GatewayCore

@Suite struct ConfigurationTests {
    typealias PG = Configuration.PostgresSettings

    private func load(_ env: [String: String]) throws -> Configuration {
        try Configuration.load(from: env)
    }

    /// The variable the error names, or nil when loading succeeds.
    private func failingVariable(_ env: [String: String]) -> String? {
        do {
            _ = try Configuration.load(from: env)
            return nil
        } catch {
            #expect(error.description.contains(error.variable))
            #expect(!error.problem.isEmpty)
            return error.variable
        }
    }

    @Test func defaults() throws {
        let c = try load([:])
        #expect(c.host == "127.0.0.1")
        #expect(c.port == 3000)
        #expect(c.environment == .development)
        #expect(c.storage == .sqlite(path: "./data/mcp-gateway.db"))
        #expect(c.redis == nil)
        #expect(c.apiKey == nil)
        #expect(c.sessionSecret == nil)
        #expect(c.logLevel == "info")
        #expect(c.logFormat == .text)
        #expect(c.maxBodyBytes == 4 * 1024 * 1024)
        #expect(c.requestTimeout == 30)
        #expect(c.toolsPageSize == 500)
        #expect(c.allowedOrigins == [])
        #expect(c.reusePort == false)
        #expect(c.listenURL == "http://127.0.0.1:3000")
    }

    @Test func emptyValuesCountAsUnset() throws {
        let c = try load(["PORT": "", "HOST": "", "LOG_LEVEL": "", "DATABASE_URL": "", "REDIS_URL": "", "API_KEY": "", "NODE_ENV": ""])
        #expect(c.port == 3000)
        #expect(c.host == "127.0.0.1")
        #expect(c.logLevel == "info")
        #expect(c.storage == .sqlite(path: "./data/mcp-gateway.db"))
        #expect(c.redis == nil)
        #expect(c.apiKey == nil)
    }

    @Test func hostAndPort() throws {
        let c = try load(["HOST": "0.0.0.0", "PORT": "8080"])
        #expect(c.host == "0.0.0.0")
        #expect(c.port == 8080)
        #expect(c.listenURL == "http://127.0.0.1:8080")
        #expect(try load(["HOST": "::1", "PORT": "9"]).listenURL == "http://[::1]:9")
        #expect(try load(["PORT": "0"]).port == 0)
        #expect(try load(["PORT": "65535"]).port == 65535)
    }

    @Test(arguments: ["abc", "-1", "65536", "3000.0", " 3000", "0x50", "99999999999999999999"])
    func invalidPortNamesPORT(_ value: String) {
        #expect(failingVariable(["PORT": value]) == "PORT")
    }

    @Test func productionRequiresAnAPIKey() throws {
        #expect(failingVariable(["NODE_ENV": "production"]) == "API_KEY")
        #expect(failingVariable(["APP_ENV": "production"]) == "API_KEY")
        #expect(failingVariable(["NODE_ENV": "PRODUCTION"]) == "API_KEY")
        let c = try load(["NODE_ENV": "production", "API_KEY": "long-enough-key"])
        #expect(c.environment == .production)
        #expect(c.apiKey == "long-enough-key")
        #expect(try load(["NODE_ENV": "Development"]).environment == .development)
    }

    @Test func accessSettings() throws {
        let c = try load([:])
        #expect(c.authMode == .none && c.auditLog && !c.auditArguments && c.rateLimitPerMinute == nil && c.otlpEndpoint == nil)
        #expect(failingVariable(["MCP_AUTH": "basic"]) == "MCP_AUTH")
        #expect(try load(["MCP_AUTH": "TOKEN"]).authMode == .token)
        #expect(failingVariable(["MCP_AUTH": "jwt"]) == "JWKS_URL")
        #expect(failingVariable(["MCP_AUTH": "jwt", "JWKS_URL": "https://idp.example/jwks"]) == "JWT_AUDIENCE", "no audience to check")
        #expect(failingVariable(["MCP_AUTH": "jwt", "JWKS_URL": "http://idp.example/jwks", "JWT_AUDIENCE": "a"]) == "JWKS_URL")
        let jwt = try load(["MCP_AUTH": "jwt", "JWKS_URL": "http://127.0.0.1:9/jwks", "PUBLIC_URL": "https://mcp.example/",
                            "JWT_ISSUER": "https://idp.example", "JWKS_MIN_REFRESH_INTERVAL": "5"])
        #expect(jwt.publicURL == "https://mcp.example" && jwt.authorizationServers == ["https://idp.example"] && jwt.jwksMinRefreshInterval == 5)
        #expect(try load(["AUTHORIZATION_SERVERS": "https://a, https://b"]).authorizationServers == ["https://a", "https://b"])
        #expect(failingVariable(["RATE_LIMIT_PER_MINUTE": "0"]) == "RATE_LIMIT_PER_MINUTE")
        #expect(failingVariable(["AUDIT_ARGUMENTS": "maybe"]) == "AUDIT_ARGUMENTS")
        #expect(failingVariable(["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"]) == "OTEL_EXPORTER_OTLP_ENDPOINT")
        #expect(try load(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"]).otlpEndpoint == "http://127.0.0.1:4318")
    }

    @Test func apiKeyAndSessionSecretLengths() throws {
        #expect(failingVariable(["API_KEY": "short"]) == "API_KEY")
        #expect(try load(["API_KEY": "12345678"]).apiKey == "12345678")
        #expect(failingVariable(["SESSION_SECRET": "fifteen-chars!!"]) == "SESSION_SECRET")
        #expect(try load(["SESSION_SECRET": "sixteen-chars!!!"]).sessionSecret == "sixteen-chars!!!")
    }

    @Test func invalidEnvironmentNamesTheVariableThatWasRead() {
        #expect(failingVariable(["NODE_ENV": "staging"]) == "NODE_ENV")
        #expect(failingVariable(["APP_ENV": "staging"]) == "APP_ENV")
        // NODE_ENV takes precedence over APP_ENV.
        #expect(failingVariable(["NODE_ENV": "staging", "APP_ENV": "production"]) == "NODE_ENV")
    }

    /// An empty NODE_ENV counts as unset (so APP_ENV is read); the error must then name APP_ENV.
    @Test func emptyNodeEnvAndInvalidAppEnvNamesAPP_ENV() {
        #expect(failingVariable(["NODE_ENV": "", "APP_ENV": "staging"]) == "APP_ENV")
    }

    @Test func dbVariablesSelectPostgres() throws {
        let c = try load(["DB_HOST": "db.internal", "DB_PORT": "5433", "DB_USERNAME": "gw", "DB_PASSWORD": "s3cr=t",
                          "DB_DATABASE": "registry", "DB_SSLMODE": "require"])
        #expect(c.storage == .postgres(PG(host: "db.internal", port: 5433, user: "gw", password: "s3cr=t",
                                          database: "registry", sslmode: "require")))
        let d = try load(["DB_HOST": "db"])
        #expect(d.storage == .postgres(PG(host: "db", port: 5432, user: "postgres", password: "", database: "mcp_registry")))
        let e = try load(["DB_DATABASE": "x"])
        #expect(e.storage == .postgres(PG(host: "localhost", port: 5432, user: "postgres", password: "", database: "x")))
        #expect(failingVariable(["DB_HOST": "db", "DB_PORT": "0"]) == "DB_PORT")
        #expect(failingVariable(["DB_HOST": "db", "DB_PORT": "x"]) == "DB_PORT")
        // DB_PASSWORD alone does not select postgres.
        #expect(try load(["DB_PASSWORD": "p"]).storage == .sqlite(path: "./data/mcp-gateway.db"))
        #expect(try load(["SQLITE_PATH": "/var/lib/gw.db"]).storage == .sqlite(path: "/var/lib/gw.db"))
    }

    @Test func databaseURLPostgres() throws {
        let c = try load(["DATABASE_URL": "postgres://u:p%40ss@h:5433/db?sslmode=require"])
        #expect(c.storage == .postgres(PG(host: "h", port: 5433, user: "u", password: "p@ss", database: "db", sslmode: "require")))
        let d = try load(["DATABASE_URL": "postgresql://h/db"])
        #expect(d.storage == .postgres(PG(host: "h", port: 5432, user: "postgres", password: "", database: "db")))
        let e = try load(["DATABASE_URL": "postgres://us%65r:p%C3%A9%3A%2F@[::1]:6543"])
        #expect(e.storage == .postgres(PG(host: "::1", port: 6543, user: "user", password: "pé:/", database: "mcp_registry")))
        let f = try load(["DATABASE_URL": "postgres://a:b:c@h/db?application_name=x&sslmode=verify-full"])
        #expect(f.storage == .postgres(PG(host: "h", port: 5432, user: "a", password: "b:c", database: "db", sslmode: "verify-full")))
        let g = try load(["DATABASE_URL": "POSTGRES://u@h:1/d"])
        #expect(g.storage == .postgres(PG(host: "h", port: 1, user: "u", password: "", database: "d")))
    }

    @Test func databaseURLWinsOverDBVariables() throws {
        let c = try load(["DATABASE_URL": "postgres://u:p@url-host/db", "DB_HOST": "var-host", "SQLITE_PATH": "/x.db"])
        #expect(c.storage == .postgres(PG(host: "url-host", port: 5432, user: "u", password: "p", database: "db")))
    }

    @Test func databaseURLSQLite() throws {
        #expect(try load(["DATABASE_URL": "sqlite:/x/y.db"]).storage == .sqlite(path: "/x/y.db"))
        #expect(try load(["DATABASE_URL": "sqlite:///x/y.db"]).storage == .sqlite(path: "/x/y.db"))
        #expect(try load(["DATABASE_URL": "sqlite:relative.db"]).storage == .sqlite(path: "relative.db"))
    }

    @Test(arguments: ["sqlite:", "sqlite://", "mysql://u:p@h/db", "h:5432/db", "postgres:/h/db", "postgres://u:p@h:notaport/db",
                      "postgres://h:0/db", "postgres://h:65536/db", "http://h/db"])
    func invalidDatabaseURLNamesDATABASE_URL(_ url: String) {
        #expect(failingVariable(["DATABASE_URL": url]) == "DATABASE_URL")
    }

    @Test func redisURL() throws {
        let a = try #require(try load(["REDIS_URL": "redis://:s3cret@cache:6380/2"]).redis)
        #expect(a.host == "cache")
        #expect(a.port == 6380)
        #expect(a.password == "s3cret")
        #expect(a.username == nil)
        #expect(a.database == 2)
        let b = try #require(try load(["REDIS_URL": "redis://user:p%40w@cache"]).redis)
        #expect(b == Configuration.RedisSettings(host: "cache", port: 6379, password: "p@w", username: "user", database: 0))
        let c = try #require(try load(["REDIS_URL": "redis://cache"]).redis)
        #expect(c == Configuration.RedisSettings(host: "cache", port: 6379, password: nil, username: nil, database: 0))
        let d = try #require(try load(["REDIS_URL": "redis://[::1]:6379/15"]).redis)
        #expect(d.host == "::1")
        #expect(d.database == 15)
    }

    @Test(arguments: ["cache:6379", "localhost", "http://cache", "rediss://cache", "redis://", "redis://:pw@", "redis://cache:99999",
                      "redis://cache:port", "redis://cache/x", "redis://cache/-1", "redis://cache/1024", "redis:/cache"])
    func invalidRedisURLNamesREDIS_URL(_ url: String) {
        #expect(failingVariable(["REDIS_URL": url]) == "REDIS_URL")
    }

    @Test func allowedOriginsAreSplitAndTrimmed() throws {
        let c = try load(["ALLOWED_ORIGINS": " https://a.example , https://b.example:8443,,  ,*"])
        #expect(c.allowedOrigins == ["https://a.example", "https://b.example:8443", "*"])
        #expect(try load(["ALLOWED_ORIGINS": "https://only.example"]).allowedOrigins == ["https://only.example"])
    }

    @Test func logLevelAndFormat() throws {
        #expect(try load(["LOG_LEVEL": "DEBUG"]).logLevel == "debug")
        for level in ["trace", "debug", "info", "warn", "error"] {
            #expect(try load(["LOG_LEVEL": level]).logLevel == level)
        }
        #expect(failingVariable(["LOG_LEVEL": "verbose"]) == "LOG_LEVEL")
        #expect(failingVariable(["LOG_LEVEL": "warning"]) == "LOG_LEVEL")
        #expect(try load(["LOG_FORMAT": "JSON"]).logFormat == .json)
        #expect(failingVariable(["LOG_FORMAT": "xml"]) == "LOG_FORMAT")
    }

    @Test func numericSettingsAndTheirLimits() throws {
        let c = try load(["MAX_BODY_BYTES": "1024", "REQUEST_TIMEOUT": "2.5", "TOOLS_PAGE_SIZE": "7", "DB_POOL_SIZE": "64",
                          "MAX_CONNECTIONS": "1", "SSE_KEEPALIVE": "0.5"])
        #expect(c.maxBodyBytes == 1024)
        #expect(c.requestTimeout == 2.5)
        #expect(c.toolsPageSize == 7)
        #expect(c.dbPoolSize == 64)
        #expect(c.maxConnections == 1)
        #expect(c.sseKeepAlive == 0.5)
        #expect(failingVariable(["MAX_BODY_BYTES": "1023"]) == "MAX_BODY_BYTES")
        #expect(failingVariable(["DB_POOL_SIZE": "65"]) == "DB_POOL_SIZE")
        #expect(failingVariable(["TOOLS_PAGE_SIZE": "0"]) == "TOOLS_PAGE_SIZE")
        for bad in ["0", "-1", "abc", "86401", "nan", "inf"] {
            #expect(failingVariable(["REQUEST_TIMEOUT": bad]) == "REQUEST_TIMEOUT", "\(bad)")
        }
        #expect(failingVariable(["TOOL_CALL_TIMEOUT": "0"]) == "TOOL_CALL_TIMEOUT")
    }

    @Test func resilienceSettings() throws {
        let d = try load([:])
        #expect(d.callQueueWait == 1 && !d.pinDefinitions && d.downPolicy == .keep && d.watchDownstreams)
        let c = try load(["CALL_QUEUE_WAIT": "0.25", "PIN_DEFINITIONS": "true", "HEALTH_DOWN_POLICY": "HIDE", "WATCH_DOWNSTREAMS": "off"])
        #expect(c.callQueueWait == 0.25 && c.pinDefinitions && c.downPolicy == .hide && !c.watchDownstreams)
        #expect(failingVariable(["HEALTH_DOWN_POLICY": "drop"]) == "HEALTH_DOWN_POLICY")
        #expect(failingVariable(["CALL_QUEUE_WAIT": "0"]) == "CALL_QUEUE_WAIT")
        #expect(failingVariable(["PIN_DEFINITIONS": "maybe"]) == "PIN_DEFINITIONS")
        #expect(failingVariable(["WATCH_DOWNSTREAMS": "2"]) == "WATCH_DOWNSTREAMS")
    }

    @Test func replicaHeartbeatInterval() throws {
        #expect(try load([:]).replicaHeartbeatInterval == 5)
        #expect(try load(["REPLICA_HEARTBEAT_INTERVAL": "0.5"]).replicaHeartbeatInterval == 0.5)
        #expect(failingVariable(["REPLICA_HEARTBEAT_INTERVAL": "0"]) == "REPLICA_HEARTBEAT_INTERVAL")
        #expect(failingVariable(["REPLICA_HEARTBEAT_INTERVAL": "soon"]) == "REPLICA_HEARTBEAT_INTERVAL")
    }

    /// The path only: the file is read and checked (OpenSSL) when the gateway starts.
    @Test func downstreamCAFile() throws {
        #expect(try load([:]).downstreamCAFile == nil)
        #expect(try load(["DOWNSTREAM_CA_FILE": ""]).downstreamCAFile == nil)
        #expect(try load(["DOWNSTREAM_CA_FILE": "/etc/mcp/ca.pem"]).downstreamCAFile == "/etc/mcp/ca.pem")
    }

    @Test func booleans() throws {
        for yes in ["1", "true", "TRUE", "yes", "on"] { #expect(try load(["REUSE_PORT": yes]).reusePort, "\(yes)") }
        for no in ["0", "false", "No", "off"] { #expect(try !load(["REUSE_PORT": no]).reusePort, "\(no)") }
        #expect(failingVariable(["REUSE_PORT": "maybe"]) == "REUSE_PORT")
        #expect(try load(["GATEWAY_TEST_ROUTES": "true"]).testRoutes)
        #expect(failingVariable(["GATEWAY_TEST_ROUTES": "2"]) == "GATEWAY_TEST_ROUTES")
    }

    @Test func errorDescription() {
        let e = ConfigurationError(variable: "PORT", problem: "must be an integer")
        #expect(e.description == "configuration error: PORT must be an integer")
    }

    @Test func percentDecoding() {
        #expect(percentDecode("plain") == "plain")
        #expect(percentDecode("p%40ss") == "p@ss")
        #expect(percentDecode("%2f%2F") == "//")
        #expect(percentDecode("100%") == "100%")
        #expect(percentDecode("%zz") == "%zz")
        #expect(percentDecode("%4") == "%4")
        #expect(percentDecode("%C3%A9") == "é")
    }
}
