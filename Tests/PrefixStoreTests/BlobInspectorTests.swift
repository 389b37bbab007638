import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

/// Blob metadata damage is reported, never suffered: libhdf5 reads it in a child process whose
/// death or silence is a finding.
@Suite("Blob metadata inspected in a child process")
struct BlobInspectorTests {
    private func store(_ dir: TemporaryDirectory) throws -> Store {
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 1, base: "b"))
        return store
    }

    @Test("an inspector that crashes is a blob finding naming the signal, and the next blobs are still inspected")
    func crashingInspector() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let report = try store.check(
            digests: false, record: false,
            isolation: .childProcess(executable: "/bin/sh", arguments: ["-c", "kill -SEGV $$"], timeout: 10))
        let failures = report.findings.filter { $0.check == "blob" }
        #expect(failures.count == report.blobs && !report.passed)
        #expect(failures.allSatisfy { $0.message.contains("libhdf5 crashed (signal 11) reading its metadata") }, "\(failures)")
    }

    @Test("an inspector that stops answering is killed after the timeout and reported")
    func hangingInspector() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let started = Date()
        let report = try store.check(
            digests: false, record: false,
            isolation: .childProcess(executable: "/bin/sh", arguments: ["-c", "exec sleep 100"], timeout: 0.5))
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(
            report.findings.contains { $0.message.contains("did not finish reading its metadata within 0.5 s (killed)") },
            "\(report.findings)")
    }

    @Test("the prefixkit child inspector agrees with the in-process one on an intact store")
    func childAgrees() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let child = try store.check(
            digests: true, record: false,
            isolation: .childProcess(executable: Processes.prefixkit, arguments: ["inspect-blobs"], timeout: 30))
        #expect(child.passed && child.findings.isEmpty && child.tensorsHashed == child.tensors, "\(child.findings)")
    }

    @Test(
        "each kind of metadata damage h5py would see is a finding: dtype attribute, an extra attribute, a dataset unlinked, a type changed",
        arguments: ["attribute", "extra-attribute", "unlinked", "retyped"])
    func damageKinds(kind: String) throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let entry = try store.tensorEntries(of: store.checkpoint("c"))[0]
        let edit = try Processes.python(
            """
            import sys, os, sqlite3, h5py, numpy as np
            path, dataset, kind, catalog = sys.argv[1:5]
            with h5py.File(path, "r+") as f:
                if kind == "attribute": f[dataset].attrs["dtype"] = "float64"
                elif kind == "extra-attribute": f[dataset].attrs["note"] = "x"
                elif kind == "unlinked": del f[dataset]
                elif kind == "retyped":
                    data = f[dataset][()]
                    del f[dataset]
                    f.create_dataset(dataset, data=data.astype(np.float64)).attrs["dtype"] = "float32"
            # h5py may grow the file: record its new size, so that only the metadata differs.
            db = sqlite3.connect(catalog)
            db.execute("UPDATE blob SET byte_length = ? WHERE path = ?", (os.path.getsize(path), path.split("/s/", 1)[1]))
            db.commit()
            """, [dir.path + "/s/" + entry.blobPath, entry.dataset, kind, dir.path + "/s/catalog.sqlite"])
        #expect(edit.status == 0, "\(edit.stderr)")
        let reopened = try Store.open(at: dir.path + "/s")
        let report = try reopened.check(
            digests: false, record: false,
            isolation: .childProcess(executable: Processes.prefixkit, arguments: ["inspect-blobs"], timeout: 30))
        #expect(!report.passed, "\(kind): \(report.findings)")
        let expected =
            [
                "attribute": "dtype attribute float64 instead of float32", "extra-attribute": "2 attributes instead of 1",
                "unlinked": "cannot be read", "retyped": "stored type differs",
            ][kind] ?? "?"
        #expect(report.findings.contains { $0.message.contains(expected) }, "\(kind): \(report.findings)")
    }

    @Test("seeded byte mutations of blob metadata: whenever h5py's view of a blob changes, check fails; check never crashes or hangs")
    func metadataMutations() throws {
        let dir = TemporaryDirectory()
        let demo = try Processes.prefixkit([
            "demo", "--store", dir.path + "/orig", "--layers", "2", "--width", "8", "--heads", "2",
            "--checkpoints", "1", "--input-length", "4",
        ])
        #expect(demo.status == 0)
        let run = try Processes.python(
            """
            import sqlite3, random, sys, shutil, subprocess, h5py, json
            prefixkit, orig, work = sys.argv[1:4]
            db = sqlite3.connect(orig + "/catalog.sqlite")
            ranges = {}
            for path, off, length in db.execute("SELECT b.path, t.file_offset, t.byte_length FROM tensor t JOIN blob b ON b.id = t.blob_id"):
                ranges.setdefault(path, []).append((off or 0, length))
            def view(p):
                try:
                    out = {}
                    with h5py.File(p, "r") as f:
                        def visit(name, obj):
                            if isinstance(obj, h5py.Dataset):
                                out[name] = (obj.shape, str(obj.dtype), sorted((k, str(v)) for k, v in obj.attrs.items()), obj.id.get_offset())
                        f.visititems(visit)
                    return out
                except Exception as e:
                    return "unreadable"
            rng = random.Random(2024)
            missed, bad, changed = [], [], 0
            for i in range(40):
                path = rng.choice(sorted(ranges))
                data = bytearray(open(orig + "/" + path, "rb").read())
                while True:
                    at = rng.randrange(len(data))
                    if not any(o <= at < o + l for o, l in ranges[path]): break
                for j in range(rng.choice([1, 1, 2, 10])):
                    if at + j < len(data): data[at + j] = rng.randrange(256)
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(orig, work)
                open(work + "/" + path, "wb").write(data)
                differs = view(work + "/" + path) != view(orig + "/" + path)
                changed += differs
                try:
                    code = subprocess.run([prefixkit, "check", work, "--quick", "--no-record"], capture_output=True, timeout=60).returncode
                except subprocess.TimeoutExpired:
                    code = "hang"
                if code not in (0, 1): bad.append((path, at, code))
                if differs and code == 0: missed.append((path, at))
            print(json.dumps({"changed": changed, "missed": missed, "bad": bad}))
            sys.exit(1 if missed or bad or changed < 5 else 0)
            """, [Processes.prefixkit, dir.path + "/orig", dir.path + "/work"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    }
}
