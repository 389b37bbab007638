import PrefixCore
import Testing

@Suite("Paths")
struct PathsTests {
    @Test("parent() is NSString's deletingLastPathComponent, one-character names included (on which that traps here)")
    func parent() {
        let cases: [(String, String)] = [
            ("s", ""), ("s/", ""), ("ab", ""), ("./s", "."), ("/s", "/"), ("/", "/"), ("a/b/c", "a/b"), ("a//b", "a"),
            ("/a/b/", "/a"), ("", ""),
        ]
        for (path, expected) in cases { #expect(Paths.parent(path) == expected, "\(path)") }
    }
}
