/// Resource URIs (and URI templates) as clients of the gateway see them. Two services may expose
/// the same URI, so each is rewritten, deterministically and reversibly, from the service name and
/// the original alone, keeping the original scheme (`ui://` stays `ui://` for MCP Apps hosts,
/// `file://` stays `file://`): the service becomes the authority, the original's own authority and
/// path follow it.
///
///     <scheme>://<authority><path>   →   <scheme>://<service>/<authority><path>
///     <scheme>:<opaque>              →   <scheme>://<service>/:<opaque>
///
/// The rest of the original is kept byte for byte (template expressions included), so a URI
/// expanded from a federated template maps back to the original template's expansion. Examples,
/// service `docs`: `config://app` → `config://docs/app`; `file:///notes/{day}` →
/// `file://docs//notes/{day}`; `ui://widget/app.html` → `ui://docs/widget/app.html`;
/// `note:1` → `note://docs/:1`. (An original whose authority starts with `:` takes the second
/// form, so the mapping stays reversible.)
public enum FederatedURI {
    /// The federated form, or nil when `uri` has no scheme (`letter *( letter / digit / + - . )` then `:`).
    public static func federate(service: String, uri: String) -> String? {
        guard let colon = schemeEnd(uri) else { return nil }
        let scheme = uri[..<colon]
        let rest = uri[uri.index(after: colon)...]
        if rest.hasPrefix("//"), !rest.dropFirst(2).hasPrefix(":") {
            return "\(scheme)://\(service)/\(rest.dropFirst(2))"
        }
        return "\(scheme)://\(service)/:\(rest)"
    }

    /// (service, original URI) for a federated URI, or nil when it is not one.
    public static func resolve(_ uri: String) -> (service: String, original: String)? {
        guard let colon = schemeEnd(uri) else { return nil }
        let afterColon = uri[uri.index(after: colon)...]
        guard afterColon.hasPrefix("//") else { return nil }
        let authorityAndRest = afterColon.dropFirst(2)
        guard let slash = authorityAndRest.firstIndex(of: "/") else { return nil }
        let service = String(authorityAndRest[..<slash])
        guard !service.isEmpty, Validation.serviceNameProblem(service) == nil else { return nil }
        let rest = authorityAndRest[authorityAndRest.index(after: slash)...]
        let scheme = uri[..<colon]
        if rest.hasPrefix(":") { return (service, "\(scheme):\(rest.dropFirst())") }
        return (service, "\(scheme)://\(rest)")
    }

    static func schemeEnd(_ uri: String) -> String.Index? {
        guard let colon = uri.firstIndex(of: ":"), colon != uri.startIndex else { return nil }
        let scheme = uri.unicodeScalars[uri.unicodeScalars.startIndex..<colon]
        guard let first = scheme.first, first.isASCII, first.properties.isAlphabetic else { return nil }
        for c in scheme.dropFirst() {
            guard c.isASCII, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "+" || c == "-" || c == "." else { return nil }
        }
        return colon
    }
}
