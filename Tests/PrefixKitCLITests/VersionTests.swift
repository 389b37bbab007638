import Foundation
import PrefixKit
import TestSupport
import Testing

/// One version everywhere, from `VERSION`.
@Suite("Version")
struct VersionTests {
    @Test("VERSION, the library, prefixkit --version and the Python package agree")
    func oneVersion() throws {
        let root = Processes.repositoryRoot
        let version = try String(contentsOfFile: root + "/VERSION", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil, "VERSION holds '\(version)'")
        #expect(PrefixKitVersion.current == version)
        let printed = try Processes.prefixkit(["--version"])
        #expect(printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == version, "\(printed.stdout)")
        let pyproject = try String(contentsOfFile: root + "/python/pyproject.toml", encoding: .utf8)
        #expect(pyproject.contains("\nversion = \"\(version)\"\n"), "python/pyproject.toml does not say version = \"\(version)\"")
        let changelog = try String(contentsOfFile: root + "/CHANGELOG.md", encoding: .utf8)
        #expect(changelog.contains("## \(version)"), "CHANGELOG.md has no section for \(version)")
    }
}
