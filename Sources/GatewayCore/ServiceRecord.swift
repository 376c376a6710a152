/// A registered service with its tools as the downstream returned them.
public struct ServiceRecord: Sendable {
    public init(id: Int64, name: String, url: String, createdAt: String, updatedAt: String, tools: [JSON]) {
        self.id = id; self.name = name; self.url = url; self.createdAt = createdAt; self.updatedAt = updatedAt; self.tools = tools
    }
    public var id: Int64
    public var name: String
    public var url: String
    public var createdAt: String
    public var updatedAt: String
    public var tools: [JSON]
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
