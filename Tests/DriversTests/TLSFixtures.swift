@testable import Drivers
import Glibc
import Reactor

/// A test CA and certificates it signed (P-256, valid until 2126), made once with the openssl
/// command line: `server` names localhost, 127.0.0.1 and ::1; `other` names only other.example.
/// `TLSFixtures.path(_:)` writes each to a file of its own (what OpenSSL's loaders take).
enum TLSFixtures {
    static let caPEM = """
-----BEGIN CERTIFICATE-----
MIIBozCCAUmgAwIBAgIUePE5cDaEaqo1Kej4lIC6BbMWU3MwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTbWNwLWdhdGV3YXkgdGVzdCBDQTAgFw0yNjEyMDMwODQ1MzJa
GA8yMTI2MTEwOTA4NDUzMlowHjEcMBoGA1UEAwwTbWNwLWdhdGV3YXkgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH4ZKxqaypD5vu8rvbw5JaxljWJk
Uk1WsFfUvO/fHqsLBO/2AoOLFaXWclJyqs9Iz6wJZYr1OndR7psz863yZQOjYzBh
MB0GA1UdDgQWBBS1kqtAx4j1WtwapNCMCT00kBLWrTAfBgNVHSMEGDAWgBS1kqtA
x4j1WtwapNCMCT00kBLWrTAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIB
BjAKBggqhkjOPQQDAgNIADBFAiEAodikW5RCQLPHsTpAlhAmVFRmkTs2jBgBM1qm
7GOCU6kCIGUJP7TEzFmpJQCiSPYfKhhDu/QpZVEPTKFA0sm9CYV3
-----END CERTIFICATE-----
"""

    static let serverPEM = """
-----BEGIN CERTIFICATE-----
MIIByDCCAW6gAwIBAgIUAcS/dazSs0fYd26e2tUJfQk73XQwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTbWNwLWdhdGV3YXkgdGVzdCBDQTAgFw0yNjEyMDMwODQ1MzJa
GA8yMTI2MTEwOTA4NDUzMlowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEVHn6sMgJaD5Sb1HRktN7CM0tyistsuWg4SRi6uvI
Wo0jn/3BRZw5fFs7wMNCEgYao2wKg8xRCfPPs2zq0REx9qOBkTCBjjAsBgNVHREE
JTAjgglsb2NhbGhvc3SHBH8AAAGHEAAAAAAAAAAAAAAAAAAAAAEwCQYDVR0TBAIw
ADATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUznw9/U6zQyyEmIeWVOX4
fc8B/QswHwYDVR0jBBgwFoAUtZKrQMeI9VrcGqTQjAk9NJAS1q0wCgYIKoZIzj0E
AwIDSAAwRQIgMG4HaHrKQ/3rzsPN6acZKz4N8Ure5zAehkSaIZAGCo8CIQDWD4Kj
vReh+Iqce7Z/mY5C86JwULor9+B0+AvZ05h1tg==
-----END CERTIFICATE-----
"""

    static let serverKey = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgl9sVAhpDLeBH12fm
zyp/baSoRwJgryT5DFtHaDSuCMShRANCAARUefqwyAloPlJvUdGS03sIzS3KKy2y
5aDhJGLq68hajSOf/cFFnDl8WzvAw0ISBhqjbAqDzFEJ88+zbOrRETH2
-----END PRIVATE KEY-----
"""

    static let otherPEM = """
-----BEGIN CERTIFICATE-----
MIIBtTCCAVygAwIBAgIUAcS/dazSs0fYd26e2tUJfQk73XUwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTbWNwLWdhdGV3YXkgdGVzdCBDQTAgFw0yNjEyMDMwODQ1MzJa
GA8yMTI2MTEwOTA4NDUzMlowGDEWMBQGA1UEAwwNb3RoZXIuZXhhbXBsZTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABGiCAzkKssN1spWF3EkqNI5cqiG9eE1IwJCo
gmpvlxo2YUZS+Zwh1z3+xPXZTf28vF2Q7KoWp3Ruj3VDT1P5jRqjfDB6MBgGA1Ud
EQQRMA+CDW90aGVyLmV4YW1wbGUwCQYDVR0TBAIwADATBgNVHSUEDDAKBggrBgEF
BQcDATAdBgNVHQ4EFgQU6G8SomorfYh6EZa5vPULcF8Cc8IwHwYDVR0jBBgwFoAU
tZKrQMeI9VrcGqTQjAk9NJAS1q0wCgYIKoZIzj0EAwIDRwAwRAIgd8gYH9FDB+hH
pJfpHraw8hl/pPirgts8PqW8O5JJPggCIAFMqGjroGc7+mYsy2u7Szs3CECugfWP
7XpPU2YttVeK
-----END CERTIFICATE-----
"""

    static let otherKey = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS3XwBTXCjh2QjbKS
RHjlj7HZZOqGspuPOoErndQiR2GhRANCAARoggM5CrLDdbKVhdxJKjSOXKohvXhN
SMCQqIJqb5caNmFGUvmcIdc9/sT12U39vLxdkOyqFqd0bo91Q09T+Y0a
-----END PRIVATE KEY-----
"""

    /// Client contexts shared by the tests, one trusting the test CA and one with the system store
    /// only (making one loads the system store: ~30 ms of the shared loop each; the gateway makes
    /// one per process). Tests that count resumptions use origins of their own, so their cached
    /// sessions never mix.
    @LoopActor static let trusting = try! TLSClientContext(caFile: path("ca.pem"))
    @LoopActor static let systemOnly = try! TLSClientContext()

    /// The fixture `name` (`ca.pem`, `server.pem`, `server.key`, `other.pem`, `other.key`) as a file.
    static func path(_ name: String) -> String {
        let contents = ["ca.pem": caPEM, "server.pem": serverPEM, "server.key": serverKey,
                        "other.pem": otherPEM, "other.key": otherKey][name]!
        return write(contents + "\n", as: name)
    }

    /// `contents` as the file `name` in a folder of this process; returns its path. (Written
    /// aside and renamed: tests running side by side never read a half-written file.)
    static func write(_ contents: String, as name: String) -> String {
        let path = "\(directory)/\(name)"
        let temporary = "\(path).\(UInt64.random(in: 0...UInt64.max))"
        let f = fopen(temporary, "w")!
        fputs(contents, f)
        fclose(f)
        rename(temporary, path)
        return path
    }

    private static let directory: String = {
        let dir = "/tmp/mcp-gateway-tls-tests-\(getpid())"
        mkdir(dir, 0o700)
        return dir
    }()
}
