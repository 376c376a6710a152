/// An immutable snapshot of every federated tool. A reload builds a new one and swaps it in;
/// requests in flight keep the snapshot they started with.
public final class ToolIndex: Sendable {
    public struct Entry: Sendable {
        public let federatedName: String
        public let service: String
        public let serviceURL: String
        public let originalName: String
        /// The definition as the client sees it (name rewritten, every other field carried through).
        public let definition: JSON
    }

    public let version: Int64
    public let entries: [Entry]
    public let serviceCount: Int
    public let pageSize: Int
    private let byName: [String: Int]
    /// `tools` arrays, serialized once per snapshot, one per page.
    public let pages: [[UInt8]]

    public init(version: Int64, services: [ServiceRecord], pageSize: Int) {
        self.version = version
        self.pageSize = max(1, pageSize)
        var entries: [Entry] = []
        var byName: [String: Int] = [:]
        for service in services.sorted(by: { $0.name < $1.name }) {
            for tool in service.tools {
                guard let original = tool["name"]?.stringValue else { continue }
                let name = ToolNaming.federatedName(service: service.name, tool: original)
                if byName[name] != nil { continue }
                byName[name] = entries.count
                entries.append(Entry(federatedName: name, service: service.name, serviceURL: service.url,
                                     originalName: original, definition: tool.setting("name", .string(name))))
            }
        }
        self.entries = entries
        self.byName = byName
        serviceCount = services.count
        var pages: [[UInt8]] = []
        var start = 0
        repeat {
            let slice = entries[start..<min(entries.count, start + self.pageSize)]
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (i, e) in slice.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                e.definition.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
            pages.append(out)
            start += self.pageSize
        } while start < entries.count
        self.pages = pages
    }

    public static let empty = ToolIndex(version: 0, services: [], pageSize: 500)

    public func entry(named name: String) -> Entry? {
        byName[name].map { entries[$0] }
    }

    /// The cursor for `page` of this snapshot: opaque to clients, bound to the version.
    public func cursor(forPage page: Int) -> String { "\(String(version, radix: 36)).\(page)" }

    /// Decodes a cursor into (version, page), or nil when it is not one of ours.
    public static func decodeCursor(_ cursor: String) -> (version: Int64, page: Int)? {
        let parts = cursor.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let v = Int64(parts[0], radix: 36), let p = Int(parts[1]), p > 0, p < 1_000_000 else { return nil }
        return (v, p)
    }
}
