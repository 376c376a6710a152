// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
    // One thread owns all state; dynamic exclusivity checks cost ~3% of a small request.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "mcp-gateway",
    products: [
        .executable(name: "mcp-gateway", targets: ["mcp-gateway"]),
    ],
    targets: [
        // C: system libraries and a logic-free shim for what Swift cannot import.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // OpenSSL 3: libcrypto (JWT signatures) and libssl (TLS to downstreams).
        .systemLibrary(name: "CCrypto", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "CGatewayShims",
            linkerSettings: [
                .linkedLibrary("ev"), .linkedLibrary("hiredis"), .linkedLibrary("http_parser"),
                .linkedLibrary("ssl"), .linkedLibrary("crypto"),
            ]
        ),
        // Pure logic: JSON, MCP, configuration, the tool index. Imports no C module.
        .target(name: "GatewayCore", swiftSettings: swiftSettings),
        // The libev loop as a Swift executor, watchers, timers, signals.
        .target(name: "Reactor", dependencies: ["CGatewayShims"], swiftSettings: swiftSettings),
        // HTTP/1.1 server on the loop (http-parser).
        .target(name: "HTTP", dependencies: ["Reactor", "GatewayCore", "CGatewayShims"], swiftSettings: swiftSettings),
        // Drivers: PostgreSQL (libpq), Redis (hiredis), outgoing HTTP and HTTPS (on the loop, TLS
        // through OpenSSL's libssl), SQLite, JWT signatures (libcrypto).
        .target(name: "Drivers", dependencies: ["Reactor", "GatewayCore", "CGatewayShims", "CLibPQ", "CSQLite", "CCrypto"], swiftSettings: swiftSettings),
        // The application: admin API, /mcp, registry.
        // The operator's console (Console/*.html, .js, .css) is compiled in: no files to ship.
        .target(name: "Gateway", dependencies: ["Reactor", "HTTP", "Drivers", "GatewayCore"],
                resources: [.embedInCode("Console/index.html"), .embedInCode("Console/console.js"), .embedInCode("Console/console.css")],
                swiftSettings: swiftSettings),
        .executableTarget(name: "mcp-gateway", dependencies: ["Gateway", "Reactor", "GatewayCore"], swiftSettings: swiftSettings),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore"], swiftSettings: swiftSettings),
        // The I/O shells, driven on the real loop without sockets: a loop thread for tests, a
        // recording response sink, a scripted downstream transport.
        .target(name: "LoopTesting", dependencies: ["Reactor", "HTTP", "Drivers", "GatewayCore"], path: "Tests/LoopTesting", swiftSettings: swiftSettings),
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "LoopTesting", "Reactor", "HTTP", "GatewayCore", "CCrypto", "CGatewayShims"], swiftSettings: swiftSettings),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "LoopTesting", "Reactor"], swiftSettings: swiftSettings),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "LoopTesting", "HTTP", "Drivers", "Reactor", "GatewayCore"], swiftSettings: swiftSettings),
    ]
)
