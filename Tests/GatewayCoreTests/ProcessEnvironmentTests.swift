#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import GatewayCore

@Suite struct ProcessEnvironmentTests {
    @Test func matchesGetenv() throws {
        let env = ProcessEnvironment.all()
        #expect(!env.isEmpty)
        for name in ["PATH", "HOME"] {
            guard let c = getenv(name) else { continue }
            #expect(env[name] == String(cString: c))
        }
        #expect(env["GATEWAY_CORE_TESTS_SURELY_UNSET_VARIABLE"] == nil)
    }
}
