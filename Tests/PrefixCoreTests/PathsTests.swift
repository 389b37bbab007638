import Foundation
import PrefixCore
import TestSupport
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

@Suite("Resolved paths")
struct ResolvedPathTests {
    @Test("a path through a link to a directory resolves into it, whether or not its file exists yet")
    func throughLinks() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/store/blobs", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/link", withDestinationPath: dir.path + "/store")
        #expect(Paths.isInside(dir.path + "/link/new-dir/out.html", dir.path + "/store"))
        #expect(Paths.isInside(dir.path + "/link", dir.path + "/store"))
        #expect(Paths.isInside(dir.path + "/elsewhere/../store/blobs/x.h5", dir.path + "/store"))
        #expect(!Paths.isInside(dir.path + "/store-other/out.html", dir.path + "/store"))
        #expect(!Paths.isInside(dir.path + "/out.html", dir.path + "/store"))
        #expect(FileManager.default.createFile(atPath: dir.path + "/store/catalog.sqlite", contents: Data()))
        try FileManager.default.createSymbolicLink(
            atPath: dir.path + "/report.html", withDestinationPath: dir.path + "/store/catalog.sqlite")
        #expect(Paths.isInside(dir.path + "/report.html", dir.path + "/store"))
    }
}
