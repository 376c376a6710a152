import Testing
@testable import GatewayCore

@Suite struct MCPVersionsTests {
    @Test func versionLists() {
        #expect(MCPVersions.all == MCPVersions.modern + MCPVersions.handshake)
        #expect(Set(MCPVersions.all).count == MCPVersions.all.count)
        #expect(MCPVersions.handshake == MCPVersions.handshake.sorted(by: >), "newest first")
        #expect(MCPVersions.handshake.contains(MCPVersions.assumedWithoutHeader))
        #expect(MCPVersions.metaProtocolVersion.hasPrefix(MCPVersions.metaPrefix))
        for v in MCPVersions.all {
            // YYYY-MM-DD, which also keeps them under SessionToken's 32-byte version limit.
            #expect(v.utf8.count == 10 && v.split(separator: "-").count == 3)
        }
    }
}
