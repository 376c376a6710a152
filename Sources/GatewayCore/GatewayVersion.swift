/// The gateway's version, as --version, serverInfo and clientInfo report it.
public enum GatewayVersion {
    public static let string = "0.1.0"
}
