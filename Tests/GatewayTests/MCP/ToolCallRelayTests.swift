import Drivers
@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// The relay's shell on the real loop, against a scripted downstream: every way a call can end
/// answers the caller once, and leaves nothing behind — the call, its timer and the caller's
/// response context are freed (a weak reference to each is nil). Each test runs twice: the call as
/// a tree, and as a plain `tools/call` read from its bytes.
@Suite struct ToolCallRelayTests {
    @Test(arguments: [false, true]) func aResultIsRelayedWithTheCallersIDAndNothingOutlivesIt(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            let (sink, context) = f.call(f.request(id: .string("abc")))
            #expect(await eventually { sink.isAnswered })
            let reply = sink.responses.first?.json
            #expect(reply?["id"] == .string("abc"))
            #expect(reply?["result"]?["content"]?.arrayValue?.first?["text"] == .string(#"{"text":"hi"}"#))
            #expect(await eventually { context.isGone }, "the response context (and the call holding it) leaked")
            #expect(f.relay.cancellableCount == 0)
        }
    }

    @Test(arguments: [false, true]) func theDownstreamReceivesTheOriginalNameAndItsOwnID(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            let (sink, _) = f.call(f.request(id: .int(99)))
            #expect(await eventually { sink.isAnswered })
            let sent = f.transport.requests.compactMap { try? JSONParser.parse($0.body) }.first { $0["method"]?.stringValue == "tools/call" }
            #expect(sent?["params"]?["name"] == .string("echo"))
            #expect(sent?["id"] != .int(99))
            #expect(f.transport.requests.last?.headers.contains { $0.name == "Mcp-Session-Id" && $0.value == "downstream-session-1" } == true)
        }
    }

    /// A downstream that restarted forgets its session: the call's 404 makes the gateway initialize
    /// again and send the call once more, on the new session, and the caller gets the result.
    @Test(arguments: [false, true]) func aForgottenDownstreamSessionIsRenewedAndTheCallRetriedOnce(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            let (first, _) = f.call(f.request(id: .int(1)))
            #expect(await eventually { first.isAnswered })
            f.forgetSession = true
            let (sink, context) = f.call(f.request(id: .int(2)))
            #expect(await eventually { sink.isAnswered })
            #expect(sink.responses.first?.json?["result"]?["content"]?.arrayValue?.first?["text"] == .string(#"{"text":"hi"}"#))
            let methods = f.transport.requests.compactMap { try? JSONParser.parse($0.body) }.compactMap { $0["method"]?.stringValue }
            #expect(methods.filter { $0 == "initialize" }.count == 2)
            #expect(methods.filter { $0 == "tools/call" }.count == 3, "the first call, the refused one, its retry")
            let retry = f.transport.requests.last { (try? JSONParser.parse($0.body))?["method"]?.stringValue == "tools/call" }
            #expect(retry?.headers.contains { $0.name == "Mcp-Session-Id" && $0.value == "downstream-session-2" } == true)
            #expect(await eventually { context.isGone }, "the retried call leaked")
            #expect(f.relay.cancellableCount == 0)
        }
    }

    /// The leak this suite exists for: the call owns its timer, and the timer's handler must not
    /// own the call. Checked on the call and the timer themselves.
    @Test(arguments: [false, true]) func aFinishedCallAndItsTimerAreFreed(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            let sink = RecordingSink()
            let request = f.request()
            let context = sink.context(for: HTTPRequest(method: "POST", target: "/mcp", headers: []))
            var call: ToolCall? = ToolCall(relay: f.relay, lifecycle: ToolCallLifecycle(service: "svc", timeout: 30),
                                           session: f.pool.session(service: "svc", url: "http://downstream.test/mcp"), tool: "echo",
                                           key: nil, caller: .init(idBytes: Array("1".utf8), modern: false, cors: [], progressToken: nil, downstreamToken: nil),
                                           context: context, stream: nil)
            if fromBytes {
                let body = Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"svc__echo","arguments":{}}}"#.utf8)
                call!.start(params: .envelope(ToolCallEnvelope.scan(body)!, originalName: "echo", token: nil))
            } else {
                call!.start(params: .bytes(Array(#"{"name":"echo","arguments":{}}"#.utf8)))
            }
            let weakCall = WeakBox(call!)
            let weakTimer = WeakBox(call!.timer)
            call = nil
            #expect(await eventually { sink.isAnswered })
            #expect(await eventually { weakCall.isGone }, "the call outlived its answer")
            #expect(weakTimer.isGone, "the call's timer outlived it")
        }
    }

    @Test(arguments: [false, true]) func aDownstreamThatCannotBeReachedGivesATypedErrorAndFreesTheCall(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes, holdCalls: true)
            let (sink, context) = f.call(f.request())
            #expect(await eventually { f.transport.heldCount == 1 })
            f.transport.fail(.connect("connection refused"))
            #expect(await eventually { sink.isAnswered })
            let error = sink.responses.first?.json?["error"]
            #expect(error?["code"] == .int(JSONRPCCode.downstreamUnavailable))
            #expect(error?["message"]?.stringValue?.contains("svc") == true)
            #expect(await eventually { context.isGone })
        }
    }

    @Test(arguments: [false, true]) func theDeadlineAnswersOnceCancelsDownstreamAndFreesTheCall(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes, holdCalls: true, timeout: 0.05)
            let (sink, context) = f.call(f.request())
            #expect(await eventually { sink.isAnswered })
            #expect(sink.responses.count == 1)
            let downstreamID = f.sentCallIDs.first
            #expect(sink.responses.first?.json?["error"]?["code"] == .int(JSONRPCCode.downstreamTimeout))
            #expect(downstreamID != nil)
            #expect(await eventually { f.cancellations == [downstreamID!] }, "the downstream was not told, with its own id")
            #expect(f.transport.heldCount == 0, "the transfer was not aborted")
            #expect(await eventually { context.isGone })
        }
    }

    @Test(arguments: [false, true]) func aClientThatLeavesCancelsTheCallDownstream(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes, holdCalls: true)
            let (sink, context) = f.call(f.request())
            #expect(await eventually { f.heldCallID != nil })
            let downstreamID = f.heldCallID!
            sink.disconnect()
            #expect(await eventually { f.cancellations == [downstreamID] })
            #expect(f.transport.heldCount == 0)
            #expect(sink.responses.isEmpty)
            #expect(await eventually { context.isGone })
        }
    }

    @Test(arguments: [false, true]) func aHandshakeCancellationEndsTheExchangeWithoutAResponse(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes, holdCalls: true)
            let token = f.session()
            let (sink, context) = f.call(f.request(id: .int(5), session: token))
            #expect(await eventually { f.heldCallID != nil })
            #expect(f.relay.cancellableCount == 1)
            #expect(f.relay.cancel(key: "\(token.id)|5", reason: "user"))
            #expect(!f.relay.cancel(key: "\(token.id)|5", reason: "again"), "a finished call is no longer cancellable")
            #expect(await eventually { sink.isAnswered })
            #expect(sink.responses.map(\.status) == [204])
            #expect(await eventually { f.cancellations.count == 1 })
            #expect(f.relay.cancellableCount == 0)
            #expect(await eventually { context.isGone })
        }
    }

    @Test(arguments: [false, true]) func anEndedSessionCancelsItsCallsOnly(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes, holdCalls: true)
            let mine = f.session()
            let other = SessionToken.issue(secret: RelayFixture.secret, protocolVersion: "2025-11-25", now: 1_000, random: Array(repeating: 7, count: 16))
            let (a, contextA) = f.call(f.request(id: .int(1), session: mine))
            let (b, _) = f.call(f.request(id: .int(1), session: other))
            #expect(await eventually { f.transport.heldCount == 2 })
            f.relay.cancelSession(mine.id)
            #expect(await eventually { a.isAnswered })
            #expect(!b.isAnswered)
            #expect(f.relay.cancellableCount == 1)
            #expect(await eventually { contextA.isGone })
            f.holdCalls = false
            f.transport.complete(with: .json(#"{"jsonrpc":"2.0","id":\#(f.heldCallID!),"result":{"content":[]}}"#))
            #expect(await eventually { b.isAnswered })
            #expect(b.responses.first?.json?["id"] == .int(1))
        }
    }

    @Test(arguments: [false, true]) func progressIsStreamedUnderTheCallersTokenThenTheResult(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes, holdCalls: true)
            let (sink, context) = f.call(f.request(id: .int(3), progressToken: .string("client-token")))
            #expect(sink.streamStatus == 200)
            #expect(await eventually { f.heldCallID != nil })
            let held = try! JSONParser.parse(f.transport.heldRequests.last!.body)
            let ours = held["params"]?["_meta"]?["progressToken"]
            #expect(ours != nil && ours != .string("client-token"))
            let head = IncomingHead(status: 200, headers: [("content-type", "text/event-stream")])
            f.transport.stream(Array("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\(ours!.text),\"progress\":1}}\n\n".utf8), head: head)
            f.transport.stream(Array("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"someone-else\",\"progress\":1}}\n\n".utf8), head: head)
            f.transport.complete(with: .sse([#"{"jsonrpc":"2.0","id":\#(f.heldCallID!),"result":{"content":[]}}"#]))
            #expect(await eventually { sink.streamEnded })
            let text = sink.streamText
            #expect(text.contains(#""progressToken":"client-token""#))
            #expect(!text.contains("someone-else"), "another call's progress reached this caller")
            #expect(text.contains(#""id":3"#))
            #expect(await eventually { context.isGone })
        }
    }

    @Test(arguments: [false, true]) func aModernCallersResultCarriesServerInfo(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            let (sink, _) = f.call(f.request(modern: true))
            #expect(await eventually { sink.isAnswered })
            let result = sink.responses.first?.json?["result"]
            #expect(result?["resultType"] == .string("complete"))
            #expect(result?["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == .string("mcp-gateway"))
            let sent = f.transport.requests.compactMap { try? JSONParser.parse($0.body) }.first { $0["method"]?.stringValue == "tools/call" }
            #expect(sent?["params"]?["name"] == .string("echo"))
            #expect(sent?["params"]?["arguments"] == .object([("text", .string("hi"))]))
            #expect(sent?["params"]?["_meta"] == nil, "the protocol's own _meta keys reached the downstream")
        }
    }

    @Test(arguments: [false, true]) func anUnknownToolIsRefusedWithoutTouchingTheDownstream(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            let (sink, context) = f.call(f.request(tool: "svc__nope"))
            #expect(sink.responses.first?.json?["error"]?["code"] == .int(JSONRPCCode.invalidParams))
            #expect(f.transport.requests.isEmpty)
            #expect(await eventually { context.isGone })
        }
    }

    /// Many calls, every ending mixed: none of them is left behind.
    @Test(arguments: [false, true]) func aThousandCallsLeaveNothingBehind(fromBytes: Bool) async {
        await onLoop {
            let f = RelayFixture(fromBytes: fromBytes)
            var contexts: [WeakBox<ResponseContext>] = []
            var sinks: [RecordingSink] = []
            for i in 0..<1000 {
                let (sink, context) = f.call(f.request(id: .int(i), session: i % 2 == 0 ? f.session() : nil))
                contexts.append(context)
                sinks.append(sink)
            }
            #expect(await eventually { sinks.allSatisfy(\.isAnswered) })
            #expect(await eventually { contexts.allSatisfy(\.isGone) }, "\(contexts.filter { !$0.isGone }.count) contexts leaked")
            #expect(f.relay.cancellableCount == 0)
        }
    }
}
