import GatewayCore
import Reactor

/// Method + path routing with `:name` parameters. Unknown path → 404; known path, other method → 405.
@LoopActor
public final class Router {
    public typealias Handler = @LoopActor (HTTPRequest, ResponseContext) -> Void
    private struct Route {
        let method: String
        let pattern: String
        let segments: [Substring]
        let handler: Handler
    }
    private var routes: [Route] = []
    /// Routes without parameters, by "METHOD path", answered without splitting the path.
    private var exact: [String: Route] = [:]

    public init() {}

    public func add(_ method: String, _ path: String, _ handler: @escaping Handler) {
        let route = Route(method: method, pattern: path, segments: path.split(separator: "/", omittingEmptySubsequences: true), handler: handler)
        routes.append(route)
        if !path.contains(":") { exact[method + " " + path] = route }
    }

    public enum Match {
        case found(Handler, [String: String], pattern: String)
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        if let r = exact[method + " " + path] ?? (method == "HEAD" ? exact["GET " + path] : nil) {
            return .found(r.handler, [:], pattern: r.pattern)
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        for route in routes where route.segments.count == parts.count {
            var params: [String: String] = [:]
            var ok = true
            for (pattern, part) in zip(route.segments, parts) {
                if pattern.first == ":" {
                    params[String(pattern.dropFirst())] = percentDecodePath(part)
                } else if pattern != part {
                    ok = false
                    break
                }
            }
            guard ok else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route.handler, params, pattern: route.pattern)
            }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    /// Dispatches a request, answering 404/405 itself.
    public func route(_ request: HTTPRequest, _ context: ResponseContext) {
        switch match(method: request.method, path: request.path) {
        case .found(let handler, let params, let pattern):
            context.route = pattern
            var request = request
            request.parameters = params
            handler(request, context)
        case .methodNotAllowed(let allowed):
            context.send(.error(405, code: "method_not_allowed", message: "\(request.method) is not allowed on \(request.path)",
                                headers: [("Allow", allowed.joined(separator: ", "))]))
        case .notFound:
            context.send(.error(404, code: "not_found", message: "no route for \(request.method) \(request.path)"))
        }
    }
}

func percentDecodePath(_ s: Substring) -> String {
    s.contains("%") ? percentDecode(String(s)) : String(s)
}
