/// A registered service with its tools as the downstream returned them.
public struct ServiceRecord: Sendable {
    public init(id: Int64, name: String, url: String, createdAt: String, updatedAt: String, rawTools: [UInt8]) {
        self.id = id; self.name = name; self.url = url; self.createdAt = createdAt; self.updatedAt = updatedAt; self.rawTools = rawTools
    }
    public var id: Int64
    public var name: String
    public var url: String
    public var createdAt: String
    public var updatedAt: String
    /// The tool definitions as one JSON array, as stored (parsed only where a caller needs values).
    public var rawTools: [UInt8]

    /// The tool definitions, parsed.
    public var tools: [JSON] { (try? JSONParser.parse(rawTools))?.arrayValue ?? [] }
}

/// The result of a committed mutation: the registry version it produced and the one before it.
public struct RegistryChange: Sendable {
    public init(version: Int64, previous: Int64, action: String, service: String) {
        self.version = version; self.previous = previous; self.action = action; self.service = service
    }
    public var version: Int64
    public var previous: Int64
    public var action: String
    public var service: String
}
