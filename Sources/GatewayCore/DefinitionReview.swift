/// Decides, inside a mutation's transaction, what goes into the service's history and whether a
/// pinned service may change: with pinning on, an update that changes a definition's input schema
/// or annotations under the same name is refused unless the operator accepted each new hash.
public enum DefinitionReview {
    public enum Outcome: Sendable, Equatable {
        case accept(DefinitionDiff.Result)
        /// The flagged changes nobody accepted.
        case refuse([DefinitionDiff.Change])
    }

    public static func review(service: String, previous: [JSON], new: [JSON], pinned: Bool, accepted: Set<String>) -> Outcome {
        let diff = DefinitionDiff.compare(service: service, old: previous, new: new)
        if pinned {
            let unaccepted = diff.changed.filter { $0.flagged && !accepted.contains($0.newHash) }
            if !unaccepted.isEmpty { return .refuse(unaccepted) }
        }
        return .accept(diff)
    }

    /// The 409 body's details: what changed and the hashes an operator passes to `?accept=`.
    public static func refusalDetails(_ changes: [DefinitionDiff.Change]) -> JSON {
        .array(changes.map {
            .object([("name", .string($0.name)), ("tool", .string($0.tool)), ("oldHash", .string($0.oldHash)),
                     ("newHash", .string($0.newHash)), ("fields", .array($0.fields.map { .string($0) }))])
        })
    }

    public static func refusalMessage(service: String, _ changes: [DefinitionDiff.Change]) -> String {
        let names = changes.map(\.tool).joined(separator: ", ")
        return "\(service): pinned definitions changed their input schema or annotations (\(names)); "
            + "confirm with ?accept= naming each new hash"
    }

    /// `?accept=h1,h2` (repeatable): the hashes an operator confirmed.
    public static func acceptedHashes(query: String) -> Set<String> {
        var out = Set<String>()
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "accept" else { continue }
            let value = percentDecode(String(parts[1]))
            for h in value.split(separator: ",") where !h.isEmpty { out.insert(String(h)) }
        }
        return out
    }
}
