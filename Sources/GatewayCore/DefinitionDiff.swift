/// What a register or update would change in a service's tool definitions, by content hash: the
/// federated names added, removed and changed (with both hashes and which fields moved), the
/// names that had to be shortened, and federated-name collisions. A changed `inputSchema` or
/// `annotations` under the same name is flagged: the "rug pull" a client that approved the tool
/// would not see.
public enum DefinitionDiff {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let tool: String
        public let hash: String
    }

    public struct Change: Sendable, Equatable {
        public let name: String
        public let tool: String
        public let oldHash: String
        public let newHash: String
        /// Top-level fields whose values differ, sorted.
        public let fields: [String]
        public let flagged: Bool
    }

    public struct Result: Sendable, Equatable {
        public var added: [Entry] = []
        public var removed: [Entry] = []
        public var changed: [Change] = []
        public var unchanged = 0
        /// (original tool, federated name) for tools whose `<service>__<tool>` did not fit.
        public var shortened: [(tool: String, name: String)] = []
        /// Federated names more than one tool maps to.
        public var collisions: [(name: String, tools: [String])] = []

        public static func == (a: Result, b: Result) -> Bool {
            a.added == b.added && a.removed == b.removed && a.changed == b.changed && a.unchanged == b.unchanged
                && a.shortened.map(\.tool) == b.shortened.map(\.tool) && a.collisions.map(\.name) == b.collisions.map(\.name)
        }

        public var json: JSON {
            func entries(_ list: [Entry]) -> JSON {
                .array(list.map { .object([("name", .string($0.name)), ("tool", .string($0.tool)), ("hash", .string($0.hash))]) })
            }
            return .object([
                ("added", entries(added)),
                ("removed", entries(removed)),
                ("changed", .array(changed.map {
                    .object([("name", .string($0.name)), ("tool", .string($0.tool)), ("oldHash", .string($0.oldHash)),
                             ("newHash", .string($0.newHash)), ("fields", .array($0.fields.map { .string($0) })),
                             ("flagged", .bool($0.flagged))])
                })),
                ("unchanged", .int(unchanged)),
                ("shortened", .array(shortened.map { .object([("tool", .string($0.tool)), ("name", .string($0.name))]) })),
                ("collisions", .array(collisions.map { .object([("name", .string($0.name)), ("tools", .array($0.tools.map { .string($0) }))]) })),
            ])
        }
    }

    /// Fields whose change under the same name is flagged.
    static let sensitive: Set<String> = ["inputSchema", "annotations"]

    public static func compare(service: String, old: [JSON], new: [JSON]) -> Result {
        var result = Result()
        func index(_ tools: [JSON]) -> [(tool: String, definition: JSON)] {
            tools.compactMap { t in t["name"]?.stringValue.map { ($0, t) } }
        }
        let before = Dictionary(index(old).map { ($0.tool, $0.definition) }, uniquingKeysWith: { a, _ in a })
        let after = index(new)
        var byFederated: [String: [String]] = [:]
        for (tool, definition) in after {
            let name = ToolNaming.federatedName(service: service, tool: tool)
            byFederated[name, default: []].append(tool)
            if name != service + ToolNaming.separator + tool { result.shortened.append((tool, name)) }
            let newHash = hash(definition)
            guard let previous = before[tool] else {
                result.added.append(Entry(name: name, tool: tool, hash: newHash))
                continue
            }
            let oldHash = hash(previous)
            if oldHash == newHash {
                result.unchanged += 1
            } else {
                let fields = changedFields(previous, definition)
                result.changed.append(Change(name: name, tool: tool, oldHash: oldHash, newHash: newHash, fields: fields,
                                             flagged: fields.contains { sensitive.contains($0) }))
            }
        }
        let kept = Set(after.map(\.tool))
        for (tool, definition) in index(old) where !kept.contains(tool) {
            result.removed.append(Entry(name: ToolNaming.federatedName(service: service, tool: tool), tool: tool, hash: hash(definition)))
        }
        result.collisions = byFederated.filter { $0.value.count > 1 }.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        return result
    }

    static func changedFields(_ a: JSON, _ b: JSON) -> [String] {
        let x = a.objectValue ?? [], y = b.objectValue ?? []
        var keys = Set(x.map(\.0)).union(y.map(\.0))
        keys = keys.filter { k in canonical(a[k]) != canonical(b[k]) }
        return keys.sorted()
    }

    /// `sha256:<hex>` of the definition's canonical form (object keys sorted, compact).
    public static func hash(_ definition: JSON) -> String {
        "sha256:" + Hex.encode(SHA256.hash(canonical(definition)))
    }

    static func canonical(_ value: JSON?) -> [UInt8] {
        guard let value else { return [] }
        var out: [UInt8] = []
        write(value, &out)
        return out
    }

    private static func write(_ value: JSON, _ out: inout [UInt8]) {
        switch value {
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in pairs.sorted(by: { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.string(k).write(to: &out)
                out.append(UInt8(ascii: ":"))
                write(v, &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, &out)
            }
            out.append(UInt8(ascii: "]"))
        default:
            value.write(to: &out)
        }
    }
}
