@testable import HTTP
import LoopTesting
import Reactor
import Testing

/// The router without sockets: requests go in, a recording sink shows what came out.
@Suite struct RouterTests {
    @LoopActor static func run(_ router: Router, _ method: String, _ target: String) -> (RecordingSink, ResponseContext) {
        let sink = RecordingSink()
        let request = HTTPRequest(method: method, target: target, headers: [])
        let context = sink.context(for: request)
        router.route(request, context)
        return (sink, context)
    }

    @Test func pathParametersAreDecodedAndTheRouteIsNamed() async {
        await onLoop {
            let router = Router()
            var seen: String?
            router.add("GET", "/services/:name") { request, context in
                seen = request.parameters["name"]
                context.send(HTTPResponse(status: 200))
            }
            let (sink, context) = Self.run(router, "GET", "/services/my%2Dservice?x=1")
            #expect(sink.responses.map(\.status) == [200])
            #expect(seen == "my-service")
            #expect(context.route == "/services/:name")
        }
    }

    @Test func unknownPathsAre404AndWrongMethods405WithAllow() async {
        await onLoop {
            let router = Router()
            router.add("POST", "/register") { _, context in context.send(HTTPResponse(status: 201)) }
            router.add("PUT", "/register") { _, context in context.send(HTTPResponse(status: 200)) }
            let (missing, unmatched) = Self.run(router, "GET", "/nope")
            #expect(missing.responses.first?.status == 404)
            #expect(unmatched.route == "unmatched")
            let (wrong, _) = Self.run(router, "DELETE", "/register")
            #expect(wrong.responses.first?.status == 405)
            let allow = wrong.responses.first?.headers.first { $0.name.lowercased() == "allow" }?.value ?? ""
            #expect(allow.contains("POST") && allow.contains("PUT"))
        }
    }

    @Test func exactRoutesWinAndParametersMatchOneSegment() async {
        await onLoop {
            let router = Router()
            router.add("GET", "/services") { _, c in c.send(HTTPResponse(status: 200, body: Array("list".utf8))) }
            router.add("GET", "/services/:name") { _, c in c.send(HTTPResponse(status: 200, body: Array("one".utf8))) }
            #expect(Self.run(router, "GET", "/services").0.responses.first?.body == Array("list".utf8))
            #expect(Self.run(router, "GET", "/services/a").0.responses.first?.body == Array("one".utf8))
            #expect(Self.run(router, "GET", "/services/a/b").0.responses.first?.status == 404)
        }
    }
}
