/// A narrower view of the federation, served at `/mcp/<name>`: the tools, prompts, resources and
/// resource templates whose federated name (or URI) an `include` pattern matches and no `exclude`
/// pattern does (no `include`: everything), with per-tool overrides of what clients see.
public struct VirtualServer: Sendable, Equatable {
    /// What clients see instead of a tool's own name, title, description or annotations; the
    /// downstream still receives the original name.
    public struct Override: Sendable, Equatable {
        public var name: String?
        public var title: String?
        public var description: String?
        public var annotations: JSON?
    }

    public let name: String
    public let include: [String]
    public let exclude: [String]
    /// Keyed by federated tool name, in the order given.
    public let overrides: [(tool: String, override: Override)]
    /// Calls per minute per client and tool on this view (nil: no limit of its own).
    public let perMinute: Int?
    public var createdAt = ""
    public var updatedAt = ""

    public static func == (a: VirtualServer, b: VirtualServer) -> Bool {
        a.name == b.name && a.include == b.include && a.exclude == b.exclude && a.perMinute == b.perMinute
            && a.overrides.map(\.tool) == b.overrides.map(\.tool) && a.overrides.map(\.override) == b.overrides.map(\.override)
    }

    public init(name: String, include: [String] = [], exclude: [String] = [], overrides: [(tool: String, override: Override)] = [],
                perMinute: Int? = nil) {
        self.name = name
        self.include = include
        self.exclude = exclude
        self.overrides = overrides
        self.perMinute = perMinute
        overrideIndex = Dictionary(overrides.enumerated().map { ($1.tool, $0) }, uniquingKeysWith: { a, _ in a })
    }

    private let overrideIndex: [String: Int]

    /// Whether the view shows the item with this federated name or URI.
    public func selects(_ name: String) -> Bool {
        (include.isEmpty || include.contains { Glob.matches($0, name) }) && !exclude.contains { Glob.matches($0, name) }
    }

    public func override(for tool: String) -> Override? { overrideIndex[tool].map { overrides[$0].override } }

    // MARK: the admin API's body

    public static let maxPatterns = 256
    public static let maxPatternLength = 512
    public static let maxOverrides = 1000
    public static let maxTextLength = 8192

    /// Validates an admin body (`POST` names the server in it; `PUT` takes it from the path and
    /// accepts it in the body only when equal). Unknown keys are refused.
    public static func parse(_ body: JSON, name pathName: String? = nil) -> Result<VirtualServer, ValidationError> {
        guard case .object(let members) = body else { return .failure(.init("the body must be a JSON object")) }
        let known: Set<String> = ["name", "include", "exclude", "overrides", "rateLimit"]
        if let unknown = members.first(where: { !known.contains($0.0) }) {
            return .failure(.init("unknown field \(unknown.0)"))
        }
        let name: String
        switch (pathName, body["name"]) {
        case (let p?, nil): name = p
        case (let p?, .string(let n)?): guard n == p else { return .failure(.init("name in the body differs from the path")) }; name = p
        case (nil, .string(let n)?): name = n
        case (_, _?): return .failure(.init("name must be a string"))
        case (nil, nil): return .failure(.init("name is required"))
        }
        if let problem = Validation.serviceNameProblem(name) { return .failure(.init(problem)) }
        func patterns(_ key: String) -> Result<[String], ValidationError> {
            guard let value = body[key], !value.isNull else { return .success([]) }
            guard let items = value.arrayValue, items.count <= maxPatterns else {
                return .failure(.init("\(key) must be an array of at most \(maxPatterns) patterns"))
            }
            var out: [String] = []
            for item in items {
                guard let s = item.stringValue, !s.isEmpty, s.utf8.count <= maxPatternLength else {
                    return .failure(.init("each \(key) entry must be a non-empty string of at most \(maxPatternLength) bytes"))
                }
                out.append(s)
            }
            return .success(out)
        }
        let include: [String], exclude: [String]
        switch patterns("include") { case .success(let p): include = p; case .failure(let e): return .failure(e) }
        switch patterns("exclude") { case .success(let p): exclude = p; case .failure(let e): return .failure(e) }
        var overrides: [(tool: String, override: Override)] = []
        if let value = body["overrides"], !value.isNull {
            guard case .object(let entries) = value, entries.count <= maxOverrides else {
                return .failure(.init("overrides must be an object of at most \(maxOverrides) tools"))
            }
            var newNames = Set<String>()
            for (tool, spec) in entries {
                guard ToolNaming.isValid(tool) else { return .failure(.init("overrides: \(quoted(tool)) is not a federated tool name")) }
                guard case .object(let fields) = spec else { return .failure(.init("overrides.\(tool) must be an object")) }
                if let unknown = fields.first(where: { !["name", "title", "description", "annotations"].contains($0.0) }) {
                    return .failure(.init("overrides.\(tool): unknown field \(unknown.0)"))
                }
                var o = Override()
                for key in ["name", "title", "description"] {
                    guard let v = spec[key], !v.isNull else { continue }
                    guard let s = v.stringValue, s.utf8.count <= maxTextLength else {
                        return .failure(.init("overrides.\(tool).\(key) must be a string of at most \(maxTextLength) bytes"))
                    }
                    switch key {
                    case "name": o.name = s
                    case "title": o.title = s
                    default: o.description = s
                    }
                }
                if let a = spec["annotations"], !a.isNull {
                    guard case .object = a else { return .failure(.init("overrides.\(tool).annotations must be an object")) }
                    o.annotations = a
                }
                if let n = o.name {
                    guard ToolNaming.isValid(n) else {
                        return .failure(.init("overrides.\(tool).name must match ^[a-zA-Z0-9_-]{1,64}$"))
                    }
                    guard newNames.insert(n).inserted else { return .failure(.init("overrides: the name \(n) is given twice")) }
                }
                overrides.append((tool, o))
            }
        }
        var perMinute: Int?
        if let r = body["rateLimit"], !r.isNull {
            switch RateLimitSpec.parse(r, field: "rateLimit") {
            case .success(let p): perMinute = p
            case .failure(let e): return .failure(e)
            }
        }
        return .success(VirtualServer(name: name, include: include, exclude: exclude, overrides: overrides, perMinute: perMinute))
    }

    static func quoted(_ s: String) -> String { JSON.string(String(s.prefix(80))).text }

    /// The definition as stored and as the admin API shows it (without timestamps).
    public var definition: JSON {
        .object([
            ("include", .array(include.map { .string($0) })),
            ("exclude", .array(exclude.map { .string($0) })),
            ("overrides", .object(overrides.map { entry in
                var fields: [(String, JSON)] = []
                if let n = entry.override.name { fields.append(("name", .string(n))) }
                if let t = entry.override.title { fields.append(("title", .string(t))) }
                if let d = entry.override.description { fields.append(("description", .string(d))) }
                if let a = entry.override.annotations { fields.append(("annotations", a)) }
                return (entry.tool, .object(fields))
            })),
            ("rateLimit", perMinute.map { .object([("perMinute", .int($0))]) } ?? .null),
        ])
    }

    /// Rebuilds one from its stored definition (already validated when it was stored).
    public static func stored(name: String, definition: [UInt8], createdAt: String, updatedAt: String) -> VirtualServer? {
        guard let body = try? JSONParser.parse(definition), case .success(var vs) = parse(body, name: name) else { return nil }
        vs.createdAt = createdAt
        vs.updatedAt = updatedAt
        return vs
    }

    public var json: JSON {
        guard case .object(let fields) = definition else { return .null }
        return .object([("name", .string(name))] + fields + [("endpoint", .string("/mcp/\(name)")),
                                                               ("createdAt", .string(createdAt)), ("updatedAt", .string(updatedAt))])
    }
}

/// `{"perMinute": N}` of tokens and virtual servers.
public enum RateLimitSpec {
    public static let maxPerMinute = 1_000_000

    public static func parse(_ value: JSON, field: String) -> Result<Int, ValidationError> {
        guard case .object(let fields) = value, fields.count == 1, let n = value["perMinute"]?.intValue,
              (1...maxPerMinute).contains(n) else {
            return .failure(.init("\(field) must be {\"perMinute\": N} with N from 1 to \(maxPerMinute)"))
        }
        return .success(n)
    }
}
