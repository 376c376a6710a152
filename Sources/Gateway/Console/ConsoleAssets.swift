import GatewayCore
import HTTP
import Reactor

/// The operator's web console: `GET /admin` (the page), `/admin/console.js` and
/// `/admin/console.css`, the files beside this one compiled into the binary by SwiftPM
/// (`.embedInCode`). No key is needed for them: the page holds no secret and asks the operator for
/// the key, which it sends to the admin API itself. Every answer carries a Content-Security-Policy
/// that allows only these files (no inline script or style, no other origin), forbids framing,
/// and an ETag: browsers revalidate (`no-cache`) and get 304 while the binary is the same.
enum ConsoleAssets {
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", contentSecurityPolicy), ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
    ]

    struct Asset: Sendable {
        let path: String
        let contentType: String
        let body: [UInt8]
        /// A strong validator: the first 16 bytes of the body's SHA-256, hex.
        let etag: String

        init(path: String, contentType: String, body: [UInt8]) {
            self.path = path
            self.contentType = contentType
            self.body = body
            etag = "\"" + Hex.encode(SHA256.hash(body).prefix(16)) + "\""
        }
    }

    static let assets: [Asset] = [
        Asset(path: "/admin", contentType: "text/html; charset=utf-8", body: PackageResources.index_html),
        Asset(path: "/admin/console.js", contentType: "text/javascript; charset=utf-8", body: PackageResources.console_js),
        Asset(path: "/admin/console.css", contentType: "text/css; charset=utf-8", body: PackageResources.console_css),
    ]

    @LoopActor
    static func mount(on router: Router) {
        for asset in assets {
            router.add("GET", asset.path) { request, context in
                context.send(response(asset, ifNoneMatch: request.header("if-none-match")))
            }
        }
    }

    /// 200 with the file, or 304 when `If-None-Match` names its ETag (or `*`).
    static func response(_ asset: Asset, ifNoneMatch: String?) -> HTTPResponse {
        let headers = securityHeaders + [("ETag", asset.etag), ("Cache-Control", "no-cache")]
        if let tags = ifNoneMatch, matches(tags, asset.etag) {
            return HTTPResponse(status: 304, headers: headers)
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", asset.contentType)] + headers, body: asset.body)
    }

    /// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for it).
    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { raw in
            var tag = raw.trimmingWhitespace
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            return tag == etag
        }
    }
}

extension Substring {
    fileprivate var trimmingWhitespace: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
