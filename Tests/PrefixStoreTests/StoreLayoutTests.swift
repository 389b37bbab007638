import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

/// A store never follows a symbolic link out of itself for writing or deleting, and gc deletes
/// only the files PrefixKit creates.
@Suite("Store layout and foreign files")
struct StoreLayoutTests {
    /// A store with a base and a checkpoint, and a user's directory beside it holding two files.
    private func setUp(_ dir: TemporaryDirectory) throws -> (store: String, user: String) {
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 1, base: "b"))
        let user = dir.path + "/user"
        try FileManager.default.createDirectory(atPath: user, withIntermediateDirectories: true)
        for name in ["notes.txt", "precious.txt", "0123456789abcdef0123456789abcdef.h5", "0123456789abcdef0123456789abcdef.h5.partial"] {
            try Data("mine".utf8).write(to: URL(fileURLWithPath: "\(user)/\(name)"))
        }
        return (store.directory, user)
    }

    private func userFiles(_ user: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: user)) ?? []).sorted()
    }

    @Test(
        "blobs/ or tmp/ as a symbolic link: the store is refused naming the path, and the user's files stay", arguments: ["blobs", "tmp"])
    func linkedDirectory(name: String) throws {
        let dir = TemporaryDirectory()
        let (store, user) = try setUp(dir)
        let before = userFiles(user)
        // Move the real directory's files into the user's directory and link it in its place.
        for file in FileSystemHelpers.contents("\(store)/\(name)") {
            try FileManager.default.moveItem(atPath: "\(store)/\(name)/\(file)", toPath: "\(user)/\(file)")
        }
        try FileManager.default.removeItem(atPath: "\(store)/\(name)")
        try FileManager.default.createSymbolicLink(atPath: "\(store)/\(name)", withDestinationPath: user)
        let withBlobs = userFiles(user)
        let error = #expect(throws: StorageError.self) { try Store.open(at: store) }
        #expect(error?.code == .notAStore)
        #expect(error?.description.contains("\(name)/ is a symbolic link") == true, "\(error?.description ?? "")")
        #expect(error?.path == "\(store)/\(name)")
        for command in [["gc", store], ["check", store], ["delete", store, "c", "--cascade"], ["list", store]] {
            let run = try Processes.prefixkit(command)
            #expect(run.status == 3 && run.stderr.contains("symbolic link"), "\(command): \(run.stderr)")
        }
        #expect(userFiles(user) == withBlobs && Set(before).isSubset(of: Set(withBlobs)))
    }

    @Test("the catalog, its WAL or .lock as a symbolic link is refused", arguments: ["catalog.sqlite", ".lock"])
    func linkedFile(name: String) throws {
        let dir = TemporaryDirectory()
        let (store, user) = try setUp(dir)
        if name == "catalog.sqlite" {
            try FileManager.default.moveItem(atPath: "\(store)/\(name)", toPath: "\(user)/\(name)")
            try FileManager.default.createSymbolicLink(atPath: "\(store)/\(name)", withDestinationPath: "\(user)/\(name)")
        } else {
            try? FileManager.default.removeItem(atPath: "\(store)/\(name)")
            try FileManager.default.createSymbolicLink(atPath: "\(store)/\(name)", withDestinationPath: "\(user)/precious.txt")
        }
        let error = #expect(throws: StorageError.self) { try Store.open(at: store) }
        #expect(
            error?.code == .notAStore && error?.description.contains("\(name) is a symbolic link") == true, "\(error?.description ?? "")")
        #expect(try String(contentsOfFile: "\(user)/precious.txt", encoding: .utf8) == "mine")
    }

    @Test("gc removes only leftovers PrefixKit names and creates; foreign files and links stay, and check names them")
    func foreignFiles() throws {
        let dir = TemporaryDirectory()
        let (path, user) = try setUp(dir)
        let partial = "\(path)/tmp/" + String(repeating: "a", count: 32) + ".h5.partial"
        let orphan = "\(path)/blobs/" + String(repeating: "b", count: 32) + ".h5"
        try Data(count: 10).write(to: URL(fileURLWithPath: partial))
        try Data(count: 10).write(to: URL(fileURLWithPath: orphan))
        let foreign = ["\(path)/blobs/notes.txt", "\(path)/tmp/precious.txt"]
        for file in foreign { try Data("mine".utf8).write(to: URL(fileURLWithPath: file)) }
        let link = "\(path)/blobs/" + String(repeating: "c", count: 32) + ".h5"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "\(user)/notes.txt")
        let store = try Store.open(at: path)
        let report = try store.check(digests: false)
        #expect(report.passed)
        let warned = Set(report.findings.filter { $0.message.contains("not created by PrefixKit") }.compactMap(\.path))
        #expect(warned == Set(foreign + [link]), "\(report.findings)")
        let summary = try store.gc()
        #expect(summary.leftoverFiles == 2)
        #expect(!FileManager.default.fileExists(atPath: partial) && !FileManager.default.fileExists(atPath: orphan))
        for file in foreign { #expect(FileManager.default.fileExists(atPath: file)) }
        #expect(FileSystemHelpers.isSymlink(link))
        #expect(userFiles(user).count == 4)
        #expect(try store.load(store.checkpoint("c"), verify: true).layers.count == 2)
    }
}

/// Small file-system queries for these tests.
enum FileSystemHelpers {
    static func contents(_ path: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
    static func isSymlink(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeSymbolicLink
    }
}

/// After every write the catalog's WAL is folded into `catalog.sqlite` and the `-wal` and
/// `-shm` files stay, even once the store is closed: readers without write access need them.
@Suite("Write-ahead log left readable")
struct WriteAheadLogTests {
    @Test("after saves and a delete, and after the store is closed, -wal and -shm exist and the WAL is empty")
    func persistentCheckpointedWAL() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        func size(_ name: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: "\(path)/\(name)")[.size] as? Int) ?? nil }
        do {
            let store = try Store.create(at: path)
            try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
            try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 1, base: "b"))
            #expect(size("catalog.sqlite-wal") == 0, "the WAL was not checkpointed after the save")
            try store.saveCheckpoint(Builders.hiddenPrefix(seed: 5), as: CheckpointSpec(name: "c", step: 2, base: "b"))
            try store.delete("c@1")
            #expect(size("catalog.sqlite-wal") == 0)
        }
        // The store (and its connections) are gone now.
        #expect(
            size("catalog.sqlite-wal") == 0 && size("catalog.sqlite-shm") != nil,
            "-wal \(size("catalog.sqlite-wal").map(String.init) ?? "missing"), -shm \(size("catalog.sqlite-shm").map(String.init) ?? "missing")"
        )
        #expect(try Store.open(at: path).checkpoints().map(\.reference) == ["c@2"])
    }
}

@Suite("Creating a store")
struct StoreCreationTests {
    @Test("a directory holding only an old empty .lock becomes a store; a .lock that links elsewhere is refused and its target untouched")
    func leftoverLock() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data("123\n".utf8).write(to: URL(fileURLWithPath: path + "/.lock"))
        #expect(try Store.create(at: path).checkpoints().isEmpty)
        let linked = dir.path + "/t"
        try FileManager.default.createDirectory(atPath: linked, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir.path + "/precious.txt"))
        try FileManager.default.createSymbolicLink(atPath: linked + "/.lock", withDestinationPath: dir.path + "/precious.txt")
        #expect(throws: StorageError.self) { try Store.create(at: linked) }
        #expect(try String(contentsOfFile: dir.path + "/precious.txt", encoding: .utf8) == "mine")
    }
}
