/// A registered service with its tools as the downstream returned them.
public struct ServiceRecord: Sendable {
    public init(id: Int64, name: String, url: String, createdAt: String, updatedAt: String, rawTools: [UInt8],
                limits: ServiceLimits = ServiceLimits(), rawResources: [UInt8] = Array("[]".utf8),
                rawTemplates: [UInt8] = Array("[]".utf8), rawPrompts: [UInt8] = Array("[]".utf8)) {
        self.id = id; self.name = name; self.url = url; self.createdAt = createdAt; self.updatedAt = updatedAt; self.rawTools = rawTools
        self.limits = limits
        self.rawResources = rawResources; self.rawTemplates = rawTemplates; self.rawPrompts = rawPrompts
    }
    /// Resources, resource templates and prompts as the downstream returned them (JSON arrays).
    public var rawResources: [UInt8]
    public var rawTemplates: [UInt8]
    public var rawPrompts: [UInt8]
    public var id: Int64
    public var name: String
    public var url: String
    public var createdAt: String
    public var updatedAt: String
    /// The tool definitions as one JSON array, as stored (parsed only where a caller needs values).
    public var rawTools: [UInt8]
    /// The operator's per-service limits (call timeout, concurrent calls).
    public var limits: ServiceLimits

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

/// One entry of a service's history: a committed register, update or delete and what it changed.
public struct ServiceChange: Sendable {
    public init(id: Int64, service: String, version: Int64, action: String, cause: String, at: String, diff: [UInt8]) {
        self.id = id; self.service = service; self.version = version; self.action = action; self.cause = cause
        self.at = at; self.diff = diff
    }
    public var id: Int64
    public var service: String
    public var version: Int64
    public var action: String
    /// Who caused it: `admin` for the admin API.
    public var cause: String
    public var at: String
    /// `DefinitionDiff.Result.json`, serialized.
    public var diff: [UInt8]

    public var json: JSON {
        let diffPairs = (try? JSONParser.parse(diff))?.objectValue ?? []
        return .object([("at", .string(at)), ("version", .number(String(version))), ("action", .string(action)),
                        ("cause", .string(cause))] + diffPairs)
    }
}

/// What a downstream serves, as fetched on register and update: JSON objects as it returned them.
public struct ServiceDefinitions: Sendable {
    public var tools: [JSON] = []
    public var resources: [JSON] = []
    public var templates: [JSON] = []
    public var prompts: [JSON] = []
    public init(tools: [JSON] = [], resources: [JSON] = [], templates: [JSON] = [], prompts: [JSON] = []) {
        self.tools = tools; self.resources = resources; self.templates = templates; self.prompts = prompts
    }
}
