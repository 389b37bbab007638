import Foundation
import TestSupport
import Testing

/// The pure-Python reader in `python/`, installed with pip as a user would, against stores the
/// `prefixkit` binary writes.
@Suite("Python reader")
struct PythonReaderTests {
    @Test("pip installs ./python, and its tests pass against stores prefixkit writes")
    func reader() throws {
        let dir = TemporaryDirectory()
        // Built from a copy: setuptools writes build/ and egg-info beside the sources it builds.
        try FileManager.default.copyItem(atPath: Processes.repositoryRoot + "/python", toPath: dir.path + "/python")
        let install = try Processes.run(
            Processes.python,
            ["-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps", "--target", dir.path + "/site", dir.path + "/python"])
        try #require(install.status == 0, "\(install.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/site/prefixkit/store.py"))
        let run = try Processes.run(
            Processes.python, ["-m", "unittest", "discover", "-s", Processes.repositoryRoot + "/python/tests", "-v"],
            environment: [
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": dir.path + "/site",
                "PREFIXKIT_BIN": Processes.productsDirectory.appendingPathComponent("prefixkit").path,
            ],
            currentDirectory: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        // Every test ran, from the installed copy.
        #expect(run.stderr.contains("Ran 12 tests") && run.stderr.contains("OK"), "\(run.stderr)")
    }
}
