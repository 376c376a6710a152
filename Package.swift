// swift-tools-version:6.1
import PackageDescription

/// Tests may use regular expressions (to cross-check validation): they keep the implicit import.
let testSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
    // One thread owns all state; dynamic exclusivity checks cost ~3% of a small request.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]
/// The gateway's modules use no regular expressions: without the implicit import, the binary does
/// not load libswift_StringProcessing and libswift_RegexParser (~1 MB of resident memory).
let swiftSettings: [SwiftSetting] = testSwiftSettings + [
    .unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"]),
]

let package = Package(
    name: "mcp-gateway",
    products: [
        .executable(name: "mcp-gateway", targets: ["mcp-gateway"]),
    ],
    targets: [
        // C: system libraries and a logic-free shim for what Swift cannot import.
        // libpq: its header here; loaded at run time by CGatewayShims (libpq_loader.c), not linked.
        .systemLibrary(name: "CLibPQ", providers: [.apt(["libpq-dev"])]),
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
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore"], swiftSettings: testSwiftSettings),
        // The I/O shells, driven on the real loop without sockets: a loop thread for tests, a
        // recording response sink, a scripted downstream transport.
        .target(name: "LoopTesting", dependencies: ["Reactor", "HTTP", "Drivers", "GatewayCore"], path: "Tests/LoopTesting", swiftSettings: swiftSettings),
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "LoopTesting", "Reactor", "HTTP", "GatewayCore", "CCrypto", "CGatewayShims"], swiftSettings: testSwiftSettings),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "LoopTesting", "Reactor"], swiftSettings: testSwiftSettings),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "LoopTesting", "HTTP", "Drivers", "Reactor", "GatewayCore"], swiftSettings: testSwiftSettings),
    ]
)
