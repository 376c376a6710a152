/// Protocol revisions the gateway serves.
public enum MCPVersions {
    /// Handshake era (initialize + Mcp-Session-Id), newest first.
    public static let handshake = ["2025-11-25", "2025-06-18", "2025-03-26"]
    /// Stateless era (server/discover + per-request _meta).
    public static let modern = ["2026-07-28"]
    public static let all = modern + handshake
    /// Assumed when a handshake-era request carries no MCP-Protocol-Version header.
    public static let assumedWithoutHeader = "2025-03-26"
    public static let metaProtocolVersion = "io.modelcontextprotocol/protocolVersion"
    public static let metaPrefix = "io.modelcontextprotocol/"
}
