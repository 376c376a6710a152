@testable import Gateway
import GatewayCore
import LoopTesting
import Reactor
import Testing

/// What clients are listed when services go down, under each policy.
@Suite struct SnapshotsTests {
    static func index(_ version: Int64, _ names: [String]) -> ToolIndex {
        ToolIndex(version: version, services: names.map {
            ServiceRecord(id: 1, name: $0, url: "http://\($0).test/mcp", createdAt: "", updatedAt: "",
                          rawTools: Array(#"[{"name":"t"}]"#.utf8))
        }, pageSize: 1)
    }

    @Test func hideLeavesDownServicesOutAndBringsThemBack() async {
        await onLoop {
            let s = Snapshots(policy: .hide)
            #expect(s.swap(Self.index(1, ["a", "b"])))
            #expect(s.unavailable == nil)
            #expect(s.setDown(["b"]), "the listing changed")
            #expect(s.current.hidden == ["b"] && s.current.toolCount == 1 && s.base.toolCount == 2)
            #expect(String(decoding: s.unavailable ?? [], as: UTF8.self) == #"[{"service":"b","state":"down","listed":false}]"#)
            #expect(!s.setDown(["b"]), "no change, no list_changed")
            // A new version keeps b hidden.
            #expect(s.swap(Self.index(2, ["a", "b", "c"])))
            #expect(s.current.hidden == ["b"] && s.current.toolCount == 2)
            #expect(s.setDown([]))
            #expect(s.current.hidden.isEmpty && s.current.toolCount == 3 && s.unavailable == nil)
        }
    }

    @Test func keepListsEverythingButNamesTheDown() async {
        await onLoop {
            let s = Snapshots(policy: .keep)
            _ = s.swap(Self.index(1, ["a", "b"]))
            #expect(!s.setDown(["a"]), "under keep the listing does not change")
            #expect(s.current.toolCount == 2)
            #expect(String(decoding: s.unavailable ?? [], as: UTF8.self) == #"[{"service":"a","state":"down","listed":true}]"#)
            _ = s.swap(Self.index(2, ["b"]))  // a was deleted: it is no longer named
            #expect(s.unavailable == nil)
        }
    }

    @Test func aCursorOfAnEarlierViewStillFindsItsView() async {
        await onLoop {
            let s = Snapshots(policy: .hide)
            _ = s.swap(Self.index(5, ["a", "b", "c"]))
            let full = s.current
            _ = s.setDown(["a"])
            let hidden = s.current
            _ = s.setDown([])
            #expect(s.retained(version: 5, view: 0) === s.current)
            #expect(s.retained(version: 5, view: hidden.view) === hidden)
            #expect(s.retained(version: 5, view: hidden.view + 1) == nil)
            _ = full
        }
    }

    /// Cursors stay valid across deltas and one full reload; memory stays within two copies of the
    /// registry however often it reloads (older lineages are let go, off the loop).
    @Test func keepsItsLineageAndOneOlderSnapshot() async {
        await onLoop {
            let s = Snapshots()
            let first = Self.index(1, ["a", "b"])
            _ = s.swap(first)
            _ = s.swap(first.replacing("c", with: ServiceRecord(id: 2, name: "c", url: "http://c/mcp", createdAt: "", updatedAt: "",
                                                                 rawTools: Array(#"[{"name":"t"}]"#.utf8)), version: 2))
            weak var dropped: ToolIndex?
            do {
                let second = Self.index(3, ["a", "b", "c"])  // a full reload: a new lineage
                dropped = s.current
                _ = s.swap(second)
                #expect(s.retained(version: 2, view: 0) != nil && s.retained(version: 1, view: 0) == nil,
                        "one snapshot of the older lineage is kept")
                for v in Int64(4)...8 { _ = s.swap(second.replacing("a", with: nil, version: v)) }
                #expect(s.retained(version: 3, view: 0) != nil, "a listing begun on the reload's snapshot can finish")
                _ = s.swap(Self.index(13, ["a"]))
                #expect(s.retained(version: 8, view: 0) != nil && s.retained(version: 3, view: 0) == nil)
                _ = s.swap(Self.index(14, ["b"]))
            }
            #expect(s.retained(version: 13, view: 0) != nil && s.retained(version: 8, view: 0) == nil)
            // The worker lets the older snapshots go.
            for _ in 0..<100 where dropped != nil { await sleep(seconds: 0.01) }
            #expect(dropped == nil, "a dropped snapshot is freed")
        }
    }
}
