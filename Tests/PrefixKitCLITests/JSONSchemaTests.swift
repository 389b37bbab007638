import Foundation
import TestSupport
import Testing

/// Every `--json` output is validated against its JSON Schema in `schemas/` by an independent
/// validator (Python's jsonschema).
@Suite("JSON output matches schemas/")
struct JSONSchemaTests {
    private static let validator = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        document = json.loads(sys.stdin.read())
        errors = list(jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(document))
        for e in errors: print(e.message, list(e.absolute_path))
        sys.exit(1 if errors else 0)
        """

    private func validate(_ json: String, against schema: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessResult
    {
        try Processes.run(Processes.python, ["-c", Self.validator, Processes.repositoryRoot + "/schemas/" + schema], input: json)
    }

    @Test("list, inspect, check, gc and delete outputs validate")
    func outputsValidate() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(
            try Processes.prefixkit(["demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2", "--checkpoints", "2"])
                .status == 0)
        try Data(count: 10).write(to: URL(fileURLWithPath: store + "/tmp/x.partial"))
        let cases: [([String], String)] = [
            (["list", store, "--json"], "list.schema.json"),
            (["inspect", store, "--json"], "inspect.schema.json"),
            (["inspect", store, "demo@1", "--json"], "inspect.schema.json"),
            (["inspect", store, "base:" + String(try firstFingerprint(store).prefix(10)), "--json"], "inspect.schema.json"),
            (["check", store, "--json"], "check.schema.json"),
            (["gc", store, "--json"], "removal.schema.json"),
            (["delete", store, "demo@2", "--json"], "removal.schema.json"),
        ]
        for (arguments, schema) in cases {
            let output = try Processes.prefixkit(arguments)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
            let result = try validate(output.stdout, against: schema)
            #expect(result.status == 0, "\(arguments) against \(schema): \(result.stdout)\(result.stderr)")
        }
    }

    @Test("import and inspect of every family's base validate (each family's own config fields)")
    func everyFamilyValidates() throws {
        let dir = TemporaryDirectory()
        let root = Processes.repositoryRoot + "/fixtures"
        let families = try FileManager.default.contentsOfDirectory(atPath: root + "/families").sorted().map { "families/" + $0 }
        let seq2seq = try FileManager.default.contentsOfDirectory(atPath: root + "/seq2seq").sorted().map { "seq2seq/" + $0 }
        for (index, fixture) in (families + seq2seq).enumerated() {
            let base = "\(root)/\(fixture)/base"
            guard FileManager.default.fileExists(atPath: base + "/config.json") else { continue }
            let store = dir.path + "/s\(index)"
            let imported = try Processes.prefixkit(["import", store, base, "--json"])
            #expect(imported.status == 0, "\(fixture): \(imported.stderr)")
            let checked = try validate(imported.stdout, against: "import.schema.json")
            #expect(checked.status == 0, "\(fixture) import: \(checked.stdout)\(checked.stderr)")
            let inspect = try Processes.prefixkit(["inspect", store, "base:" + String(try firstFingerprint(store).prefix(12)), "--json"])
            let result = try validate(inspect.stdout, against: "inspect.schema.json")
            #expect(result.status == 0, "\(fixture) inspect: \(result.stdout)\(result.stderr)")
        }
    }

    @Test("the validator rejects a document that breaks the schema")
    func validatorCanFail() throws {
        let result = try validate(#"{"store": "x", "bases": [], "checkpoints": [{"name": "bad name"}]}"#, against: "list.schema.json")
        #expect(result.status == 1)
    }

    private func firstFingerprint(_ store: String) throws -> String {
        try Processes.run("/usr/bin/sqlite3", [store + "/catalog.sqlite", "SELECT fingerprint FROM base LIMIT 1"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
