import Testing
@testable import GatewayCore

@Suite struct JSONRPCTests {
    @Test func request() {
        #expect(JSONRPC.request(id: .int(1), method: "tools/list").text == #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        #expect(JSONRPC.request(id: .string("a"), method: "m", params: .object([("x", .null)])).text
            == #"{"jsonrpc":"2.0","id":"a","method":"m","params":{"x":null}}"#)
        // Large ids keep their text.
        #expect(JSONRPC.request(id: .number("12345678901234567890"), method: "m").text
            == #"{"jsonrpc":"2.0","id":12345678901234567890,"method":"m"}"#)
    }

    @Test func notification() {
        #expect(JSONRPC.notification(method: "notifications/initialized").text
            == #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        #expect(JSONRPC.notification(method: "n", params: .array([])).text == #"{"jsonrpc":"2.0","method":"n","params":[]}"#)
    }

    @Test func resultAndError() {
        #expect(JSONRPC.result(id: .int(7), .object([])).text == #"{"jsonrpc":"2.0","id":7,"result":{}}"#)
        #expect(JSONRPC.error(id: .null, code: JSONRPCCode.parseError, message: "bad \"json\"").text
            == #"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad \"json\""}}"#)
        #expect(JSONRPC.error(id: .int(1), code: JSONRPCCode.downstreamTimeout, message: "m", data: .string("d")).text
            == #"{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"m","data":"d"}}"#)
    }

    @Test func standardCodes() {
        #expect(JSONRPCCode.parseError == -32700)
        #expect(JSONRPCCode.invalidRequest == -32600)
        #expect(JSONRPCCode.methodNotFound == -32601)
        #expect(JSONRPCCode.invalidParams == -32602)
        #expect(JSONRPCCode.internalError == -32603)
        // Implementation-defined server errors stay within -32000...-32099.
        for code in [JSONRPCCode.downstreamUnavailable, JSONRPCCode.downstreamTimeout, JSONRPCCode.downstreamError,
                     JSONRPCCode.headerMismatch, JSONRPCCode.unsupportedVersion] {
            #expect((-32099)...(-32000) ~= code)
        }
    }
}
