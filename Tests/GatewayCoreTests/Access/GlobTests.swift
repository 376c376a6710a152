import Testing
@testable import GatewayCore

@Suite struct GlobTests {
    @Test(arguments: [
        ("weather__*", "weather__get_forecast", true), ("weather__*", "weathers__x", false), ("*__search", "docs__search", true),
        ("*__search", "docs__search2", false), ("*", "", true), ("", "", true), ("", "a", false), ("a?c", "abc", true),
        ("a?c", "ac", false), ("*a*b*", "xxaybzz", true), ("*a*b*", "xxbyazz", false), ("config://x/*", "config://x/app", true),
        ("**", "anything", true), ("a*", "a", true), ("*aa", "aaa", true), ("*ab", "aab", true),
    ])
    func matches(_ pattern: String, _ text: String, _ expected: Bool) {
        #expect(Glob.matches(pattern, text) == expected, "\(pattern) ~ \(text)")
    }

    /// Against a reference: a regular-expression-free recursive matcher over random inputs.
    @Test func agreesWithARecursiveMatcher() {
        func reference(_ p: ArraySlice<Character>, _ t: ArraySlice<Character>) -> Bool {
            guard let first = p.first else { return t.isEmpty }
            if first == "*" { return reference(p.dropFirst(), t) || (!t.isEmpty && reference(p, t.dropFirst())) }
            guard let c = t.first, first == "?" || first == c else { return false }
            return reference(p.dropFirst(), t.dropFirst())
        }
        var g = SplitMix64(seed: 7)
        let alphabet: [Character] = ["a", "b", "*", "?"]
        for _ in 0..<3000 {
            let p = String((0..<Int(g.next() % 6)).map { _ in alphabet[Int(g.next() % 4)] })
            let t = String((0..<Int(g.next() % 7)).map { _ in alphabet[Int(g.next() % 2)] })
            #expect(Glob.matches(p, t) == reference(ArraySlice(Array(p)), ArraySlice(Array(t))), "\(p) ~ \(t)")
        }
    }
}
