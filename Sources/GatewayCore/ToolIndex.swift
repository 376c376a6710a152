import Glibc

/// An immutable snapshot of every federated tool. A reload builds a new one and swaps it in;
/// requests in flight keep the snapshot they started with. A change to one service builds the
/// next snapshot from this one by replacing that service alone (`replacing`), sharing the rest.
public final class ToolIndex: @unchecked Sendable {
    public struct Entry: Sendable {
        public let federatedName: String
        public let originalName: String
        /// The service's definitions, back to back (one buffer for all of its entries: a reload of
        /// 100k tools makes 5k of these, not 100k), and where this one lies in it.
        let storage: [UInt8]
        let range: Range<Int>
        /// The definition as clients see it: the downstream's bytes with `name` rewritten.
        public var bytes: ArraySlice<UInt8> { storage[range] }

        init(federatedName: String, originalName: String, bytes: [UInt8]) {
            self.init(federatedName: federatedName, originalName: originalName, storage: bytes, range: bytes.indices)
        }

        init(federatedName: String, originalName: String, storage: [UInt8], range: Range<Int>) {
            self.federatedName = federatedName
            self.originalName = originalName
            self.storage = storage
            self.range = range
        }
    }

    /// One service's tools, shared between snapshots until that service changes.
    public final class Service: Sendable {
        public let name: String
        public let url: String
        public let limits: ServiceLimits
        public let entries: [Entry]
        let byName: [String: Int]
        /// Prompts (federated `<service>__<prompt>`), resources and resource templates (federated
        /// URIs, `FederatedURI`), each with the definition as clients see it.
        public let prompts: [Entry]
        public let resources: [Entry]
        public let templates: [Entry]
        let promptByName: [String: Int]

        public init(record: ServiceRecord) {
            name = record.name
            url = record.url
            limits = record.limits
            (entries, byName) = Self.named(record.rawTools, service: record.name, apps: true)
            (prompts, promptByName) = Self.named(record.rawPrompts, service: record.name)
            func uris(_ raw: [UInt8], key: String) -> [Entry] {
                var seen = Set<String>()
                var storage: [UInt8] = []
                storage.reserveCapacity(raw.count + raw.count / 8)
                let placed: [(String, String, Range<Int>)] = ToolIndex.elements(in: raw, key: Array(key.utf8)).compactMap { original, bytes, range in
                    guard let federated = FederatedURI.federate(service: record.name, uri: original), seen.insert(federated).inserted else {
                        return nil
                    }
                    let start = storage.count
                    ToolIndex.renamed(bytes, name: range, to: federated, into: &storage)
                    return (federated, original, start..<storage.count)
                }
                return placed.map { Entry(federatedName: $0.0, originalName: $0.1, storage: storage, range: $0.2) }
            }
            resources = uris(record.rawResources, key: "uri")
            templates = uris(record.rawTemplates, key: "uriTemplate")
        }

        /// A service of a virtual server's view: the given entries (tools already renamed).
        init(name: String, url: String, limits: ServiceLimits, entries: [Entry], prompts: [Entry], resources: [Entry], templates: [Entry]) {
            self.name = name
            self.url = url
            self.limits = limits
            self.entries = entries
            byName = Dictionary(entries.enumerated().map { ($1.federatedName, $0) }, uniquingKeysWith: { a, _ in a })
            self.prompts = prompts
            promptByName = Dictionary(prompts.enumerated().map { ($1.federatedName, $0) }, uniquingKeysWith: { a, _ in a })
            self.resources = resources
            self.templates = templates
        }

        /// Tools or prompts under `<service>__<name>` (shortened with a hash when that does not
        /// fit the name rule), first definition of a name wins, with the lookup table.
        static func named(_ raw: [UInt8], service: String, apps: Bool = false) -> ([Entry], [String: Int]) {
            var placed: [(federated: String, original: String, range: Range<Int>)] = []
            var byName: [String: Int] = [:]
            let prefix = service + ToolNaming.separator
            let items = ToolIndex.tools(in: raw)
            placed.reserveCapacity(items.count)
            byName.reserveCapacity(items.count)
            var storage: [UInt8] = []
            storage.reserveCapacity(raw.count + items.count * (prefix.utf8.count + 2))
            for (original, bytes, nameRange) in items {
                let direct = prefix + original
                let federated = ToolNaming.isValid(direct) ? direct : ToolNaming.federatedName(service: service, tool: original)
                if byName[federated] != nil { continue }
                byName[federated] = placed.count
                let start = storage.count
                if apps, let rewritten = ToolIndex.appsRewritten(bytes, name: federated, service: service) {
                    storage += rewritten
                } else {
                    ToolIndex.renamed(bytes, name: nameRange, to: federated, into: &storage)
                }
                placed.append((federated, original, start..<storage.count))
            }
            return (placed.map { Entry(federatedName: $0.federated, originalName: $0.original, storage: storage, range: $0.range) }, byName)
        }

        public func prompt(named federated: String) -> Entry? { promptByName[federated].map { prompts[$0] } }
    }

    public let version: Int64
    public let pageSize: Int
    private let services: [String: Service]
    /// Service names in order, their tool counts, and `offsets[i]`: the index of the first tool
    /// of `order[i]` (a prefix sum of `counts`, so a delta recomputes it without lookups).
    private let order: [String]
    private let counts: [Int]
    private let offsets: [Int]
    public let toolCount: Int
    /// Which listing view of the version this is: 0 for every service, another number for a view
    /// that leaves `hidden` out (services that are down under the `hide` policy). Cursors carry it.
    public let view: Int
    /// Services left out of the listing (sorted); their tools still resolve for calls.
    public let hidden: [String]
    /// Pages are serialized on first use, once per snapshot (loop-confined memo).
    private var pageCache: [Int: [UInt8]] = [:]
    /// Virtual servers and tokens at this version.
    public let access: AccessConfig
    /// Which full build this snapshot descends from (through deltas and views, which share its
    /// services): snapshots of one lineage cost little to keep together, of two, twice the memory.
    public let lineage: UInt64
    /// The virtual server this snapshot is the view of (nil: the whole federation).
    public let viewName: String?
    /// A view's tools by the name its clients use (overrides make it other than `<service>__…`).
    let routes: [String: (service: String, index: Int)]?
    /// Views of this snapshot, built on first use (loop-confined memo).
    private var projections: [String: ToolIndex] = [:]

    public convenience init(version: Int64, services records: [ServiceRecord], pageSize: Int, access: AccessConfig = .empty) {
        self.init(version: version, built: records.map(Service.init(record:)), pageSize: pageSize, access: access)
    }

    /// A snapshot from services already built (callers may build them on several threads).
    public convenience init(version: Int64, built: [Service], pageSize: Int, access: AccessConfig = .empty) {
        var services: [String: Service] = [:]
        services.reserveCapacity(built.count)
        for s in built { services[s.name] = s }
        let order = services.keys.sorted()
        self.init(version: version, services: services, order: order,
                  counts: order.map { services[$0]!.entries.count }, pageSize: pageSize, access: access,
                  lineage: UInt64.random(in: 1...UInt64.max))
    }

    private init(version: Int64, services: [String: Service], order: [String], counts: [Int], pageSize: Int,
                 view: Int = 0, hidden: [String] = [], access: AccessConfig, lineage: UInt64, viewName: String? = nil,
                 routes: [String: (service: String, index: Int)]? = nil) {
        self.access = access
        self.lineage = lineage
        self.viewName = viewName
        self.routes = routes
        self.version = version
        self.view = view
        self.hidden = hidden
        self.pageSize = max(1, pageSize)
        self.services = services
        self.order = order
        self.counts = counts
        var offsets = [Int](repeating: 0, count: counts.count)
        var total = 0
        for i in counts.indices {
            offsets[i] = total
            total += counts[i]
        }
        self.offsets = offsets
        toolCount = total
    }

    public static let empty = ToolIndex(version: 0, services: [], pageSize: 500)

    public var serviceCount: Int { services.count }

    public func service(named name: String) -> Service? { services[name] }

    /// Every service's URL (builds a map: for inspection, not the hot path).
    public var serviceURLs: [String: String] { services.mapValues { $0.url } }

    /// The same snapshot listed without `names` (those it has), as view `view`: calls still
    /// resolve every tool. Only a full view (`view` 0) may be hidden from or replaced in.
    public func hiding(_ names: Set<String>, view: Int) -> ToolIndex {
        precondition(self.view == 0, "hiding from a view that already hides")
        var keptOrder: [String] = [], keptCounts: [Int] = []
        for (i, name) in order.enumerated() where !names.contains(name) {
            keptOrder.append(name)
            keptCounts.append(counts[i])
        }
        let hidden = names.filter { services[$0] != nil }.sorted()
        return ToolIndex(version: version, services: services, order: keptOrder, counts: keptCounts, pageSize: pageSize,
                         view: hidden.isEmpty ? 0 : view, hidden: hidden, access: access, lineage: lineage)
    }

    /// The next snapshot: this one with `name` replaced by `record` (nil removes it).
    public func replacing(_ name: String, with record: ServiceRecord?, version: Int64) -> ToolIndex {
        precondition(view == 0, "a delta applies to the full snapshot, not a listing view")
        var services = self.services
        var order = self.order
        var counts = self.counts
        let existed = services[name] != nil
        let at = Self.insertionPoint(order, name)
        if let record {
            let service = Service(record: record)
            services[name] = service
            if existed {
                counts[at] = service.entries.count
            } else {
                order.insert(name, at: at)
                counts.insert(service.entries.count, at: at)
            }
        } else if existed {
            services[name] = nil
            order.remove(at: at)
            counts.remove(at: at)
        }
        return ToolIndex(version: version, services: services, order: order, counts: counts, pageSize: pageSize, access: access,
                         lineage: lineage)
    }

    /// The next snapshot: this one with new virtual servers and tokens, every service shared.
    public func replacingAccess(_ access: AccessConfig, version: Int64) -> ToolIndex {
        precondition(view == 0 && viewName == nil, "a delta applies to the full snapshot, not a listing view")
        return ToolIndex(version: version, services: services, order: order, counts: counts, pageSize: pageSize, access: access,
                         lineage: lineage)
    }

    /// The view of virtual server `name` (nil when there is none): the same version, listing
    /// what its patterns select with its overrides applied; services this snapshot leaves out of
    /// listings stay out. Built once per snapshot and name.
    public func projection(_ name: String) -> ToolIndex? {
        precondition(viewName == nil, "a view of a view")
        if let p = projections[name] { return p }
        guard let vs = access.virtualServers[name] else { return nil }
        var routes: [String: (service: String, index: Int)] = [:]
        var projected: [String: Service] = [:]
        projected.reserveCapacity(services.count)
        // Listed services first, in order, so a name two tools would take goes to the first listed.
        let listed = Set(order)
        for serviceName in order + services.keys.filter({ !listed.contains($0) }).sorted() {
            let s = services[serviceName]!
            var entries: [Entry] = []
            for e in s.entries where vs.selects(e.federatedName) {
                let entry = vs.override(for: e.federatedName).map { Self.overridden(e, $0) } ?? e
                guard routes[entry.federatedName] == nil else { continue }
                routes[entry.federatedName] = (serviceName, entries.count)
                entries.append(entry)
            }
            projected[serviceName] = Service(name: s.name, url: s.url, limits: s.limits, entries: entries,
                                             prompts: s.prompts.filter { vs.selects($0.federatedName) },
                                             resources: s.resources.filter { vs.selects($0.federatedName) },
                                             templates: s.templates.filter { vs.selects($0.federatedName) })
        }
        let p = ToolIndex(version: version, services: projected, order: order, counts: order.map { projected[$0]!.entries.count },
                          pageSize: pageSize, view: view, hidden: hidden, access: access, lineage: lineage, viewName: name, routes: routes)
        projections[name] = p
        return p
    }

    /// A tool's definition with a view's override applied.
    static func overridden(_ e: Entry, _ o: VirtualServer.Override) -> Entry {
        guard var tool = try? JSONParser.parse(Array(e.bytes)) else { return e }
        let name = o.name ?? e.federatedName
        tool = tool.setting("name", .string(name))
        if let t = o.title { tool = tool.setting("title", .string(t)) }
        if let d = o.description { tool = tool.setting("description", .string(d)) }
        if let a = o.annotations { tool = tool.setting("annotations", a) }
        return Entry(federatedName: name, originalName: e.originalName, bytes: tool.serialized())
    }

    /// Whether this snapshot serves a read of `uri` (federated), whose service is `service`: always
    /// for the whole federation; in a view, when the view selects the URI or shows a template of
    /// that service (URIs of templates are not listed one by one).
    public func allowsResource(_ uri: String, service: Service) -> Bool {
        guard let viewName, let vs = access.virtualServers[viewName] else { return true }
        return vs.selects(uri) || !service.templates.isEmpty || service.resources.contains { $0.federatedName == uri }
    }

    static func insertionPoint(_ order: [String], _ name: String) -> Int {
        var lo = 0, hi = order.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if order[mid] < name { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Looks a federated name up: the service is the part before the first `__` (service names
    /// cannot contain `_`, and shortening keeps that prefix).
    public func entry(named name: String) -> (service: Service, entry: Entry)? {
        if let routes {
            guard let (s, k) = routes[name], let service = services[s] else { return nil }
            return (service, service.entries[k])
        }
        let u = name.utf8
        var i = u.startIndex
        var cut: String.Index?
        while i < u.endIndex {
            let next = u.index(after: i)
            if u[i] == UInt8(ascii: "_"), next < u.endIndex, u[next] == UInt8(ascii: "_") { cut = i; break }
            i = next
        }
        guard let cut, let service = services[String(name[..<cut])], let k = service.byName[name] else { return nil }
        return (service, service.entries[k])
    }

    public var pageCount: Int { max(1, (toolCount + pageSize - 1) / pageSize) }

    /// Page `p` as a JSON array of definitions.
    public func page(_ p: Int) -> [UInt8] {
        if let cached = pageCache[p] { return cached }
        guard p >= 0 else { return [UInt8(ascii: "["), UInt8(ascii: "]")] }
        var out: [UInt8] = [UInt8(ascii: "[")]
        let start = p * pageSize
        let end = min(toolCount, start + pageSize)
        if start < end {
            var s = Self.serviceIndex(offsets, containing: start)
            var k = start - offsets[s]
            var n = start
            while n < end {
                let entries = services[order[s]]!.entries
                while k < entries.count && n < end {
                    if n > start { out.append(UInt8(ascii: ",")) }
                    out += entries[k].bytes
                    k += 1
                    n += 1
                }
                s += 1
                k = 0
            }
        }
        out.append(UInt8(ascii: "]"))
        pageCache[p] = out
        return out
    }

    public enum Catalog: Int, Sendable { case resources, templates, prompts }

    /// What a client would see differently in each list going from `old` to this snapshot:
    /// services shared between the two (a delta keeps every other service's object) are skipped,
    /// the others compared entry by entry.
    public func changedLists(since old: ToolIndex) -> (tools: Bool, resources: Bool, prompts: Bool) {
        var tools = false, resources = false, prompts = false
        let listed = Set(order), listedBefore = Set(old.order)
        for name in listed.union(listedBefore) {
            let a = listedBefore.contains(name) ? old.services[name] : nil
            let b = listed.contains(name) ? services[name] : nil
            if let a, let b, a === b { continue }
            func bytes(_ s: Service?, _ pick: (Service) -> [Entry]) -> [ArraySlice<UInt8>] { s.map { pick($0).map(\.bytes) } ?? [] }
            if !tools, bytes(a, \.entries) != bytes(b, \.entries) { tools = true }
            if !resources, bytes(a, \.resources) != bytes(b, \.resources) || bytes(a, \.templates) != bytes(b, \.templates) {
                resources = true
            }
            if !prompts, bytes(a, \.prompts) != bytes(b, \.prompts) { prompts = true }
        }
        return (tools, resources, prompts)
    }

    /// Every listed service's entries of `catalog`, in service order (memo per snapshot).
    private var catalogs: [Catalog: [[UInt8]]] = [:]
    private var catalogPages: [Int: [UInt8]] = [:]

    private func catalog(_ kind: Catalog) -> [[UInt8]] {
        if let c = catalogs[kind] { return c }
        var out: [[UInt8]] = []
        for name in order {
            let s = services[name]!
            switch kind {
            case .resources: out += s.resources.map { Array($0.bytes) }
            case .templates: out += s.templates.map { Array($0.bytes) }
            case .prompts: out += s.prompts.map { Array($0.bytes) }
            }
        }
        catalogs[kind] = out
        return out
    }

    public func pageCount(_ kind: Catalog) -> Int { max(1, (catalog(kind).count + pageSize - 1) / pageSize) }

    /// Page `p` of `kind` as a JSON array.
    public func page(_ kind: Catalog, _ p: Int) -> [UInt8] {
        let key = p * 3 + kind.rawValue
        if let cached = catalogPages[key] { return cached }
        let all = catalog(kind)
        var out: [UInt8] = [UInt8(ascii: "[")]
        if p >= 0, p * pageSize < all.count {
            let start = p * pageSize
            for i in start..<min(all.count, start + pageSize) {
                if i > start { out.append(UInt8(ascii: ",")) }
                out += all[i]
            }
        }
        out.append(UInt8(ascii: "]"))
        catalogPages[key] = out
        return out
    }

    /// The prompt a federated name stands for.
    public func prompt(named name: String) -> (service: Service, entry: Entry)? {
        guard let service = serviceOf(name), let e = service.prompt(named: name) else { return nil }
        return (service, e)
    }

    /// The service before the first `__` of a federated name.
    private func serviceOf(_ name: String) -> Service? {
        let u = Array(name.utf8)
        var i = 0
        while i + 1 < u.count, !(u[i] == UInt8(ascii: "_") && u[i + 1] == UInt8(ascii: "_")) { i += 1 }
        guard i + 1 < u.count else { return nil }
        return services[String(decoding: u[0..<i], as: UTF8.self)]
    }

    /// The last service whose first tool is at or before `position`.
    static func serviceIndex(_ offsets: [Int], containing position: Int) -> Int {
        var lo = 0, hi = offsets.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if offsets[mid] <= position { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The cursor for `page` of this snapshot: opaque to clients, bound to the version (and view).
    public func cursor(forPage page: Int) -> String {
        view == 0 ? "\(String(version, radix: 36)).\(page)" : "\(String(version, radix: 36)).\(page).\(String(view, radix: 36))"
    }

    /// Decodes a cursor into (version, page, view), or nil when it is not one of ours.
    public static func decodeCursor(_ cursor: String) -> (version: Int64, page: Int, view: Int)? {
        let parts = cursor.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let v = Int64(parts[0], radix: 36), let p = Int(parts[1]), p > 0, p < 1_000_000 else {
            return nil
        }
        guard parts.count == 3 else { return (v, p, 0) }
        guard let view = Int(parts[2], radix: 36), view > 0 else { return nil }
        return (v, p, view)
    }

    // MARK: raw tool definitions

    private static let nameKey = Array("name".utf8)

    /// Each element of a JSON array of tool objects, in one pass: its `name`, its bytes and where
    /// the name's value sits in them. Values are not parsed; elements without a string name are
    /// skipped.
    static func tools(in raw: [UInt8]) -> [(String, ArraySlice<UInt8>, Range<Int>)] { elements(in: raw, key: nameKey) }

    /// Each object of a JSON array with a string member `key`: that string, the object's bytes and
    /// where the member's value sits in them.
    static func elements(in raw: [UInt8], key: [UInt8]) -> [(String, ArraySlice<UInt8>, Range<Int>)] {
        raw.withUnsafeBufferPointer { buf in
            var out: [(String, ArraySlice<UInt8>, Range<Int>)] = []
            var i = 0
            let end = buf.count
            func space() { while i < end, buf[i] == 0x20 || buf[i] == 0x0A || buf[i] == 0x0D || buf[i] == 0x09 { i += 1 } }
            space()
            guard i < end, buf[i] == UInt8(ascii: "[") else { return out }
            i += 1
            while true {
                space()
                guard i < end, buf[i] != UInt8(ascii: "]") else { break }
                let start = i
                guard buf[i] == UInt8(ascii: "{") else {  // not a tool object: skip it
                    guard let next = JSONScanner.skipValue(buf, i, end) else { break }
                    i = next
                    space()
                    if i < end && buf[i] == UInt8(ascii: ",") { i += 1; continue } else { break }
                }
                guard let (r, stop) = JSONScanner.field(buf, i, end, key: key) else { break }
                if let r, let name = Self.string(buf, r) {
                    out.append((name, raw[start..<stop], (r.lowerBound - start)..<(r.upperBound - start)))
                }
                i = stop
                space()
                if i < end && buf[i] == UInt8(ascii: ",") { i += 1 } else { break }
            }
            return out
        }
    }

    /// A JSON string value's text: copied straight when it has no escapes, else parsed.
    static func string(_ buf: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String? {
        guard r.count >= 2, buf[r.lowerBound] == UInt8(ascii: "\""), buf[r.upperBound - 1] == UInt8(ascii: "\"") else { return nil }
        let inner = UnsafeBufferPointer(rebasing: buf[(r.lowerBound + 1)..<(r.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) { return String(validating: inner, as: UTF8.self) }
        if case .string(let s)? = try? JSONParser.parse(UnsafeBufferPointer(rebasing: buf[r])) { return s }
        return nil
    }

    private static let resourceUriKey = Array("resourceUri".utf8)

    /// A tool of an MCP App (`_meta.ui.resourceUri`, or the flat `_meta["ui/resourceUri"]`) points
    /// at a `ui://` resource of its own server: that URI is federated like the resource itself, so
    /// a host reading it reaches the same server. nil for every other tool (no such key: the
    /// common case costs one byte search).
    static func appsRewritten(_ bytes: ArraySlice<UInt8>, name: String, service: String) -> [UInt8]? {
        guard contains(bytes, resourceUriKey),
              let tool = try? JSONParser.parse(Array(bytes)), let meta = tool["_meta"], case .object = meta else { return nil }
        var newMeta = meta
        if let ui = meta["ui"], let uri = ui["resourceUri"]?.stringValue, let federated = FederatedURI.federate(service: service, uri: uri) {
            newMeta = newMeta.setting("ui", ui.setting("resourceUri", .string(federated)))
        }
        if let uri = meta["ui/resourceUri"]?.stringValue, let federated = FederatedURI.federate(service: service, uri: uri) {
            newMeta = newMeta.setting("ui/resourceUri", .string(federated))
        }
        return tool.setting("name", .string(name)).setting("_meta", newMeta).serialized()
    }

    /// Whether `needle` (not empty) occurs in `bytes`: memchr for one of its bytes, memcmp for the
    /// whole (a full reload asks this of every tool, so it must not walk the bytes in Swift). The
    /// byte searched for is the needle's first upper-case one if it has one ("resourceUri": `U`),
    /// rare in JSON where lower-case letters are everywhere.
    static func contains(_ bytes: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, bytes.count >= needle.count else { return false }
        let anchor = needle.firstIndex(where: { $0 >= 0x41 && $0 <= 0x5A }) ?? 0
        return bytes.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { n in
                guard let base = hay.baseAddress, let first = n.baseAddress else { return false }
                var at = base + anchor
                let last = base + (hay.count - n.count) + anchor  // the anchor of the last possible match
                while at <= last {
                    guard let hit = memchr(at, Int32(n[anchor]), last - at + 1) else { return false }
                    let p = UnsafePointer(hit.assumingMemoryBound(to: UInt8.self)) - anchor
                    if memcmp(p, first, n.count) == 0 { return true }
                    at = p + anchor + 1
                }
                return false
            }
        }
    }

    /// The definition with its top-level `name` value (at `name`, relative) replaced, every other
    /// byte kept.
    static func renamed(_ bytes: ArraySlice<UInt8>, name r: Range<Int>, to name: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        renamed(bytes, name: r, to: name, into: &out)
        return out
    }

    /// `renamed`, appended to `out`.
    static func renamed(_ bytes: ArraySlice<UInt8>, name r: Range<Int>, to name: String, into out: inout [UInt8]) {
        let base = bytes.startIndex
        out += bytes[base..<(base + r.lowerBound)]
        JSON.writeString(name, to: &out)
        out += bytes[(base + r.upperBound)...]
    }
}
