@testable import Gateway
import GatewayCore
import HTTP
import LoopTesting
import Reactor
import Testing

/// The console's files as the binary serves them: their headers, revalidation, and a check of the
/// rules the page keeps so its Content-Security-Policy can stay strict (no inline script or style,
/// nothing that turns data into HTML or code).
@Suite struct ConsoleAssetsTests {
    @LoopActor static func get(_ path: String, headers: [(name: String, value: String)] = []) -> HTTPResponse? {
        let router = Router()
        ConsoleAssets.mount(on: router)
        let sink = RecordingSink()
        let request = HTTPRequest(method: "GET", target: path, headers: headers)
        router.route(request, sink.context(for: request))
        return sink.responses.first
    }

    static func text(_ path: String) -> String {
        String(decoding: ConsoleAssets.assets.first { $0.path == path }!.body, as: UTF8.self)
    }

    @Test(arguments: ["/admin", "/admin/console.js", "/admin/console.css"])
    func servedWithTheSecurityHeaders(_ path: String) async {
        await onLoop {
            guard let r = Self.get(path) else { Issue.record("no response"); return }
            #expect(r.status == 200)
            #expect(!r.body.isEmpty)
            #expect(r.header("Content-Security-Policy") == "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            #expect(r.header("X-Frame-Options") == "DENY")
            #expect(r.header("X-Content-Type-Options") == "nosniff")
            #expect(r.header("Referrer-Policy") == "no-referrer")
            #expect(r.header("Cache-Control") == "no-cache")
            #expect(r.header("ETag")?.count == 34)
            #expect(r.header("Content-Type")?.hasSuffix("; charset=utf-8") == true)
        }
    }

    @Test func revalidationAnswers304() async {
        await onLoop {
            let etag = Self.get("/admin")!.header("ETag")!
            let again = Self.get("/admin", headers: [("if-none-match", "\"other\", W/\(etag)")])!
            #expect(again.status == 304 && again.body.isEmpty)
            #expect(again.header("ETag") == etag && again.header("Content-Security-Policy") != nil)
            #expect(Self.get("/admin", headers: [("if-none-match", "\"other\"")])!.status == 200)
            #expect(Self.get("/admin", headers: [("if-none-match", "*")])!.status == 304)
        }
    }

    @Test func etagsDifferPerFile() {
        #expect(Set(ConsoleAssets.assets.map(\.etag)).count == ConsoleAssets.assets.count)
    }

    @Test func pageLoadsOnlyItsOwnFilesAndHasNoInlineCodeOrStyle() {
        let html = Self.text("/admin").lowercased()
        #expect(html.contains("<script src=\"/admin/console.js\""))
        #expect(html.contains("<link rel=\"stylesheet\" href=\"/admin/console.css\">"))
        // Every <script> has a src; no <style>, no style= or on…= attributes, no javascript: URLs.
        let scripts = html.split(separator: "<script").dropFirst()
        #expect(scripts.allSatisfy { $0.prefix(while: { $0 != ">" }).contains("src=") })
        for banned in ["<style", " style=", "javascript:"] { #expect(!html.contains(banned), "\(banned)") }
        let attributes = html.split(separator: " ").filter { $0.hasPrefix("on") && $0.contains("=") }
        #expect(attributes.isEmpty, "\(attributes)")
    }

    @Test func scriptNeverTurnsDataIntoHTMLOrCode() {
        let js = Self.text("/admin/console.js")
        for banned in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout('",
                       "setTimeout(\"", ".src =", "href"] {
            #expect(!js.contains(banned), "console.js uses \(banned)")
        }
        #expect(js.contains("textContent"))
    }
}
