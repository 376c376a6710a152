import GatewayCore
import HTTP
import Reactor

/// The gateway's Prometheus metrics and the access log, fed by the HTTP server's observer,
/// the /mcp endpoint, the tool-call relay and the index sync.
@LoopActor
final class GatewayMetrics {
    let registry = Metrics()
    let httpRequests: Metrics.Counter
    let httpDuration: Metrics.Histogram
    let mcpRequests: Metrics.Counter
    let toolCalls: Metrics.Counter
    let toolCallDuration: Metrics.Histogram
    let reloadDuration: Metrics.Histogram
    let authRefusals: Metrics.Counter
    let rateLimited: Metrics.Counter
    private var services = Set<String>()
    static let knownMethods: Set<String> = ["initialize", "ping", "tools/list", "tools/call", "server/discover",
                                            "subscriptions/listen", "notifications/initialized", "notifications/cancelled",
                                            "response"]

    init() {
        httpRequests = registry.counter("mcp_gateway_http_requests_total", "HTTP requests answered, by route, method and status.",
                                        labels: ["route", "method", "status"])
        httpDuration = registry.histogram("mcp_gateway_http_request_duration_seconds", "Time to answer (streams: to start), by route.",
                                          labels: ["route"])
        mcpRequests = registry.counter("mcp_gateway_mcp_requests_total", "MCP requests on /mcp, by method and protocol era.",
                                       labels: ["method", "era"])
        toolCalls = registry.counter("mcp_gateway_tool_calls_total", "tools/call relayed, by service and outcome (ok, error, timeout, cancelled, rejected: refused by an open circuit).",
                                     labels: ["service", "outcome"])
        toolCallDuration = registry.histogram("mcp_gateway_tool_call_duration_seconds", "Downstream tools/call latency, by service.",
                                              labels: ["service"])
        reloadDuration = registry.histogram("mcp_gateway_index_reload_duration_seconds", "Full tool-index reload time.",
                                            buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
        authRefusals = registry.counter("mcp_gateway_auth_refusals_total", "MCP requests refused by client authentication, by status (401, 403).",
                                        labels: ["status"])
        rateLimited = registry.counter("mcp_gateway_rate_limited_total", "tools/call refused over a client's rate limit (429).")
    }

    /// Service label values are bounded: past 500 distinct services the rest count as "other".
    func serviceLabel(_ name: String) -> String {
        if services.contains(name) { return name }
        if services.count >= registry.maxSeriesPerMetric { return "other" }
        services.insert(name)
        return name
    }

    func mcp(method: String, modern: Bool) {
        mcpRequests.inc(Self.knownMethods.contains(method) ? method : "other", modern ? "2026" : "handshake")
    }

    func toolCall(service: String, outcome: String, seconds: Double) {
        let label = serviceLabel(service)
        toolCalls.inc(label, outcome)
        if outcome != "rejected" { toolCallDuration.observe(seconds, label: label) }
    }
}
