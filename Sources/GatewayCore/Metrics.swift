/// Prometheus metrics: counters and histograms keyed by a bounded set of label values, rendered
/// in the text exposition format. Labels carry routes, statuses, methods and service names —
/// never tool names or session ids.
public final class Metrics: @unchecked Sendable {
    public final class Counter {
        let name: String, help: String, labels: [String]
        var values: [[String]: Double] = [:]
        /// Samples counted through `inc(_:_:_:)`: no label array is built per increment.
        var triples: [Triple: Double] = [:]
        struct Triple: Hashable { let a: String, b: String, c: Int }
        init(_ name: String, _ help: String, _ labels: [String]) { self.name = name; self.help = help; self.labels = labels }
        public func inc(_ labelValues: [String] = [], by v: Double = 1) { values[labelValues, default: 0] += v }
        /// Three labels, the last a number (a status code, say).
        public func inc(_ a: String, _ b: String, _ c: Int) { triples[Triple(a: a, b: b, c: c), default: 0] += 1 }
        /// Samples counted through `inc(_:_:)`.
        var pairs: [Pair: Double] = [:]
        struct Pair: Hashable { let a: String, b: String }
        /// Two labels: no label array is built per increment.
        public func inc(_ a: String, _ b: String) { pairs[Pair(a: a, b: b), default: 0] += 1 }
        var samples: [([String], Double)] {
            var all = values
            for (k, v) in triples { all[[k.a, k.b, String(k.c)], default: 0] += v }
            for (k, v) in pairs { all[[k.a, k.b], default: 0] += v }
            return all.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }).map { ($0.key, $0.value) }
        }
    }

    public final class Histogram {
        let name: String, help: String, labels: [String], buckets: [Double]
        var counts: [[String]: [Int]] = [:]
        var sums: [[String]: Double] = [:]
        init(_ name: String, _ help: String, _ labels: [String], _ buckets: [Double]) {
            self.name = name; self.help = help; self.labels = labels; self.buckets = buckets
        }
        public func observe(_ value: Double, _ labelValues: [String] = []) {
            var i = 0
            while i < buckets.count && value > buckets[i] { i += 1 }
            counts[labelValues, default: [Int](repeating: 0, count: buckets.count + 1)][i] += 1  // in place
            sums[labelValues, default: 0] += value
        }

        /// One label: no label array is built per observation.
        public func observe(_ value: Double, label: String) {
            var i = 0
            while i < buckets.count && value > buckets[i] { i += 1 }
            single[label, default: Bucketed(counts: [Int](repeating: 0, count: buckets.count + 1), sum: 0)].add(i, value)
        }

        struct Bucketed {
            var counts: [Int]
            var sum: Double
            mutating func add(_ i: Int, _ v: Double) { counts[i] += 1; sum += v }
        }
        var single: [String: Bucketed] = [:]

        var series: [([String], [Int], Double)] {
            var all: [[String]: ([Int], Double)] = [:]
            for (k, c) in counts { all[k] = (c, sums[k] ?? 0) }
            for (k, b) in single { all[[k]] = (b.counts, b.sum) }
            return all.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }).map { ($0.key, $0.value.0, $0.value.1) }
        }
    }

    private var counters: [Counter] = []
    private var histograms: [Histogram] = []
    private var gauges: [(name: String, help: String, type: String, labels: [String], read: () -> [([String], Double)])] = []
    /// Label sets per metric are capped; extra values fold into "other".
    public let maxSeriesPerMetric = 500

    public init() {}

    public func counter(_ name: String, _ help: String, labels: [String] = []) -> Counter {
        let c = Counter(name, help, labels)
        counters.append(c)
        return c
    }

    public func histogram(_ name: String, _ help: String, labels: [String] = [],
                          buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) -> Histogram {
        let h = Histogram(name, help, labels, buckets)
        histograms.append(h)
        return h
    }

    /// A gauge read at scrape time.
    public func gauge(_ name: String, _ help: String, labels: [String] = [], read: @escaping () -> [([String], Double)]) {
        gauges.append((name, help, "gauge", labels, read))
    }

    public func gauge(_ name: String, _ help: String, read: @escaping () -> Double) {
        gauges.append((name, help, "gauge", [], { [([], read())] }))
    }

    /// A counter whose value someone else keeps, read at scrape time.
    public func counter(_ name: String, _ help: String, read: @escaping () -> Double) {
        gauges.append((name, help, "counter", [], { [([], read())] }))
    }

    public func render() -> String {
        var out = ""
        for c in counters {
            out += "# HELP \(c.name) \(c.help)\n# TYPE \(c.name) counter\n"
            for (lv, v) in c.samples {
                out += "\(c.name)\(Self.labels(c.labels, lv)) \(Self.number(v))\n"
            }
        }
        for g in gauges {
            out += "# HELP \(g.name) \(g.help)\n# TYPE \(g.name) \(g.type)\n"
            for (lv, v) in g.read() { out += "\(g.name)\(Self.labels(g.labels, lv)) \(Self.number(v))\n" }
        }
        for h in histograms {
            out += "# HELP \(h.name) \(h.help)\n# TYPE \(h.name) histogram\n"
            for (lv, counts, sum) in h.series {
                var cumulative = 0
                for (i, b) in h.buckets.enumerated() {
                    cumulative += counts[i]
                    out += "\(h.name)_bucket\(Self.labels(h.labels + ["le"], lv + [Self.number(b)])) \(cumulative)\n"
                }
                cumulative += counts[h.buckets.count]
                out += "\(h.name)_bucket\(Self.labels(h.labels + ["le"], lv + ["+Inf"])) \(cumulative)\n"
                out += "\(h.name)_sum\(Self.labels(h.labels, lv)) \(Self.number(sum))\n"
                out += "\(h.name)_count\(Self.labels(h.labels, lv)) \(cumulative)\n"
            }
        }
        return out
    }

    static func labels(_ names: [String], _ values: [String]) -> String {
        guard !names.isEmpty else { return "" }
        var parts: [String] = []
        for (n, v) in zip(names, values) {
            var escaped = ""
            for ch in v {
                switch ch {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                default: escaped.append(ch)
                }
            }
            parts.append("\(n)=\"\(escaped)\"")
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func number(_ v: Double) -> String {
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
