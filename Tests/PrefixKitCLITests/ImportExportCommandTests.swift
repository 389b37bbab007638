import Foundation
import TestSupport
import Testing

/// `prefixkit import`, `export` and `convert` end to end: output, exit codes and JSON.
@Suite("prefixkit import, export and convert")
struct ImportExportCommandTests {
    static let peft = Processes.repositoryRoot + "/fixtures/peft"

    private func validate(_ json: String, _ schema: String) throws -> ProcessResult {
        try Processes.run(
            Processes.python,
            [
                "-c",
                """
                import json, sys, jsonschema
                schema = json.load(open(sys.argv[1]))
                errors = list(jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(json.loads(sys.stdin.read())))
                for e in errors: print(e.message)
                sys.exit(1 if errors else 0)
                """, Processes.repositoryRoot + "/schemas/" + schema,
            ], input: json)
    }

    @Test("import says what it detected and created; JSON validates; a second base import is a no-op")
    func importCommand() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let base = try Processes.prefixkit(["import", store, Self.peft + "/gpt2-tiny/base", "--name", "tiny"])
        #expect(
            base.status == 0 && base.stdout.contains("detected Hugging Face model directory") && base.stdout.contains("created base base:"))
        let again = try Processes.prefixkit(["import", store, Self.peft + "/gpt2-tiny/base", "--json"])
        #expect(again.status == 0 && again.stdout.contains("\"base_created\" : false"))
        #expect(try validate(again.stdout, "import.schema.json").status == 0)
        let adapter = try Processes.prefixkit([
            "import", store, Self.peft + "/gpt2-tiny/adapter", "--name", "ad", "--tag", "peft", "--json", "--base-by-shape",
        ])
        #expect(adapter.status == 0, "\(adapter.stderr)")
        #expect(try validate(adapter.stdout, "import.schema.json").status == 0)
        #expect(adapter.stdout.contains("\"name\" : \"ad\""))
    }

    @Test("export and convert write every format; JSON validates; files re-import", arguments: ["hf", "peft", "safetensors", "npz"])
    func exportCommand(format: String) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(
            try Processes.prefixkit([
                "import", store, Self.peft + "/llama-gqa-tiny/adapter", "--base", Self.peft + "/llama-gqa-tiny/base", "--name", "ad",
            ]).status == 0)
        let out = dir.path + "/out." + format
        let export = try Processes.prefixkit(["export", store, "ad", "--format", format, "--out", out, "--json"])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try validate(export.stdout, "export.schema.json").status == 0)
        if format != "hf" {
            #expect(try Processes.prefixkit(["import", store, out, "--name", "again"]).status == 0)
        }
        let converted = dir.path + "/conv." + format
        let convert = try Processes.prefixkit([
            "convert", Self.peft + "/llama-gqa-tiny/adapter", converted, "--to", format, "--base", Self.peft + "/llama-gqa-tiny/base",
        ])
        #expect(convert.status == 0 && convert.stdout.contains("converted PEFT prefix-tuning adapter"), "\(convert.stderr)")
    }

    @Test("exit codes: usage 2, unreadable or inconsistent sources 3")
    func exitCodes() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.peft + "/gpt2-tiny/base"]).status == 0)
        #expect(try Processes.prefixkit(["export", store, "ghost", "--format", "peft", "--out", dir.path + "/x"]).status == 2)
        #expect(try Processes.prefixkit(["export", store, "ghost", "--format", "zip", "--out", dir.path + "/x"]).status == 2)
        #expect(try Processes.prefixkit(["import", store, "x.npz", "--tensor", "t"]).status == 2)
        let missing = try Processes.prefixkit(["import", store, dir.path + "/none"])
        #expect(missing.status == 3 && missing.stderr.hasPrefix("error: ") && missing.stderr.contains(dir.path + "/none"))
        let mismatch = try Processes.prefixkit([
            "import", store, Self.peft + "/llama-gqa-tiny/adapter", "--base", Self.peft + "/gpt2-tiny/base",
        ])
        // A --base that does not fit is a usage error (2), naming the field and the file.
        #expect(
            mismatch.status == 2 && mismatch.stderr.contains("does not fit this prefix") && mismatch.stderr.contains("adapter_config.json"),
            "\(mismatch.stderr)")
        #expect(try Processes.prefixkit(["list", store]).stdout.contains("checkpoints (0)"))
    }
}
