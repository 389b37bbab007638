import Foundation
import TestSupport
import Testing

@Suite("Relative paths")
struct RelativePathTests {
    @Test("a store and an export named by one relative character work (Foundation's NSString path methods trap on them)")
    func oneCharacterNames() throws {
        let dir = TemporaryDirectory()
        let binary = Processes.productsDirectory.appendingPathComponent("prefixkit").path
        let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"
        let imported = try Processes.run(
            binary, ["import", "s", fixture + "/adapter", "--base", fixture + "/base", "--name", "a"], currentDirectory: dir.path)
        #expect(imported.status == 0 && imported.signal == nil, "\(imported.stderr)")
        let exported = try Processes.run(binary, ["export", "s", "a", "--format", "npz", "--out", "x"], currentDirectory: dir.path)
        #expect(exported.status == 0 && exported.signal == nil, "\(exported.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/x"))
    }
}
