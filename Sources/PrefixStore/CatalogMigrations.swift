import GRDB

/// The catalog's schema, as migrations.
///
/// Migrations are plain SQL, use no application types, and are never edited once shipped: a
/// change is a new migration. GRDB records the applied ones in `grdb_migrations`. The schema
/// they produce is kept verbatim in `schemas/catalog.sql`, and a test proves the two agree.
enum CatalogMigrations {
    /// The identifiers of every migration this version knows, in order.
    static var identifiers: [String] {
        [
            "v1-catalog", "v2-check-runs", "v3-base-files", "v4-unverified-verdict", "v5-model-family-config", "v6-task-heads",
            "v7-prefix-sections", "v8-provenance-detail",
        ]
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-catalog") { db in try db.execute(sql: v1) }
        migrator.registerMigration("v2-check-runs") { db in try db.execute(sql: v2) }
        migrator.registerMigration("v3-base-files") { db in try db.execute(sql: v3) }
        migrator.registerMigration("v4-unverified-verdict") { db in try db.execute(sql: v4) }
        migrator.registerMigration("v5-model-family-config") { db in try db.execute(sql: v5) }
        migrator.registerMigration("v6-task-heads") { db in try db.execute(sql: v6) }
        migrator.registerMigration("v7-prefix-sections") { db in try db.execute(sql: v7) }
        migrator.registerMigration("v8-provenance-detail") { db in try db.execute(sql: v8) }
        return migrator
    }

    private static let dtypes = "'f64','f32','f16','bf16','f8e4m3','f8e5m2','i64','i32','i16','i8','u64','u32','u16','u8','bool'"

    static let v1 = """
        CREATE TABLE store_setting (
          key TEXT PRIMARY KEY NOT NULL,
          value TEXT NOT NULL
        );
        CREATE TABLE model (
          id INTEGER PRIMARY KEY,
          config_digest TEXT NOT NULL UNIQUE CHECK (length(config_digest) = 64),
          family TEXT NOT NULL CHECK (family IN ('gpt2', 'llama', 'qwen2', 'mistral')),
          num_layers INTEGER NOT NULL CHECK (num_layers > 0),
          hidden_size INTEGER NOT NULL CHECK (hidden_size > 0),
          num_heads INTEGER NOT NULL CHECK (num_heads > 0),
          num_kv_heads INTEGER NOT NULL CHECK (num_kv_heads > 0),
          head_dim INTEGER NOT NULL CHECK (head_dim > 0),
          intermediate_size INTEGER NOT NULL CHECK (intermediate_size > 0),
          norm_kind TEXT NOT NULL CHECK (norm_kind IN ('layernorm', 'rmsnorm')),
          norm_eps REAL NOT NULL CHECK (norm_eps >= 0),
          position_scheme TEXT NOT NULL CHECK (position_scheme IN ('learned', 'rope')),
          max_positions INTEGER NOT NULL CHECK (max_positions > 0),
          vocab_size INTEGER NOT NULL CHECK (vocab_size > 0),
          activation TEXT NOT NULL,
          rope_theta REAL,
          rope_scaling_type TEXT,
          rope_scaling_factor REAL,
          tie_word_embeddings INTEGER NOT NULL CHECK (tie_word_embeddings IN (0, 1)),
          attention_bias INTEGER NOT NULL CHECK (attention_bias IN (0, 1)),
          sliding_window INTEGER CHECK (sliding_window IS NULL OR sliding_window > 0),
          config_json TEXT NOT NULL CHECK (json_valid(config_json))
        );
        CREATE TABLE blob (
          id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 32),
          path TEXT NOT NULL UNIQUE CHECK (path = 'blobs/' || id || '.h5'),
          byte_length INTEGER NOT NULL CHECK (byte_length > 0),
          created_at TEXT NOT NULL
        );
        CREATE TABLE tensor (
          id INTEGER PRIMARY KEY,
          sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
          dtype TEXT NOT NULL CHECK (dtype IN (\(dtypes))),
          shape TEXT NOT NULL CHECK (json_valid(shape) AND json_type(shape) = 'array'),
          byte_length INTEGER NOT NULL CHECK (byte_length >= 0),
          blob_id TEXT NOT NULL REFERENCES blob(id),
          dataset TEXT NOT NULL CHECK (substr(dataset, 1, 1) = '/'),
          file_offset INTEGER CHECK (file_offset IS NULL OR file_offset >= 0),
          UNIQUE (sha256, dtype, shape)
        );
        CREATE INDEX tensor_blob ON tensor(blob_id);
        CREATE TABLE base (
          fingerprint TEXT PRIMARY KEY NOT NULL CHECK (length(fingerprint) = 64),
          model_id INTEGER NOT NULL REFERENCES model(id),
          alias TEXT UNIQUE,
          created_at TEXT NOT NULL,
          source_format TEXT NOT NULL,
          source_path TEXT,
          tool_version TEXT NOT NULL
        );
        CREATE TABLE base_tensor (
          base_fingerprint TEXT NOT NULL REFERENCES base(fingerprint) ON DELETE CASCADE,
          name TEXT NOT NULL,
          tensor_id INTEGER NOT NULL REFERENCES tensor(id),
          PRIMARY KEY (base_fingerprint, name)
        ) WITHOUT ROWID;
        CREATE INDEX base_tensor_tensor ON base_tensor(tensor_id);
        CREATE TABLE checkpoint (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          step INTEGER NOT NULL CHECK (step >= 0),
          base_fingerprint TEXT NOT NULL REFERENCES base(fingerprint) ON DELETE CASCADE,
          parent_id INTEGER REFERENCES checkpoint(id) ON DELETE CASCADE,
          form TEXT NOT NULL CHECK (form IN ('hidden', 'kv')),
          prefix_length INTEGER NOT NULL CHECK (prefix_length > 0),
          num_layers INTEGER NOT NULL CHECK (num_layers > 0),
          prefix_start INTEGER NOT NULL CHECK (prefix_start >= 0),
          input_start INTEGER NOT NULL CHECK (input_start >= 0),
          has_mlp INTEGER NOT NULL CHECK (has_mlp IN (0, 1)),
          probe_meta TEXT CHECK (probe_meta IS NULL OR json_valid(probe_meta)),
          created_at TEXT NOT NULL,
          source_format TEXT NOT NULL,
          source_path TEXT,
          tool_version TEXT NOT NULL,
          UNIQUE (name, step)
        );
        CREATE INDEX checkpoint_base ON checkpoint(base_fingerprint);
        CREATE INDEX checkpoint_parent ON checkpoint(parent_id);
        CREATE TABLE checkpoint_tag (
          checkpoint_id INTEGER NOT NULL REFERENCES checkpoint(id) ON DELETE CASCADE,
          tag TEXT NOT NULL,
          PRIMARY KEY (checkpoint_id, tag)
        ) WITHOUT ROWID;
        CREATE TABLE checkpoint_tensor (
          checkpoint_id INTEGER NOT NULL REFERENCES checkpoint(id) ON DELETE CASCADE,
          role TEXT NOT NULL CHECK (role IN ('prefix', 'mlp', 'probe')),
          name TEXT NOT NULL,
          layer INTEGER CHECK (layer IS NULL OR layer >= 0),
          ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
          tensor_id INTEGER NOT NULL REFERENCES tensor(id),
          PRIMARY KEY (checkpoint_id, role, name)
        ) WITHOUT ROWID;
        CREATE INDEX checkpoint_tensor_tensor ON checkpoint_tensor(tensor_id);
        """

    static let v2 = """
        CREATE TABLE check_run (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('check', 'verify')),
          checkpoint_id INTEGER REFERENCES checkpoint(id) ON DELETE CASCADE,
          started_at TEXT NOT NULL,
          finished_at TEXT NOT NULL,
          verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail')),
          checks_json TEXT NOT NULL CHECK (json_valid(checks_json)),
          tool_version TEXT NOT NULL
        );
        CREATE INDEX check_run_checkpoint ON check_run(checkpoint_id);
        """

    /// The non-weight files of a base's HF directory (tokenizer, generation config, vocab...),
    /// stored as byte tensors so that they are content-addressed and deduplicated like weights;
    /// and the `__metadata__` of the weights' safetensors file, for a faithful export.
    static let v3 = """
        CREATE TABLE base_file (
          base_fingerprint TEXT NOT NULL REFERENCES base(fingerprint) ON DELETE CASCADE,
          name TEXT NOT NULL CHECK (length(name) > 0 AND instr(name, '/') = 0),
          tensor_id INTEGER NOT NULL REFERENCES tensor(id),
          PRIMARY KEY (base_fingerprint, name)
        ) WITHOUT ROWID;
        CREATE INDEX base_file_tensor ON base_file(tensor_id);
        ALTER TABLE base ADD COLUMN weights_metadata TEXT CHECK (weights_metadata IS NULL OR json_valid(weights_metadata));
        """

    /// A verification whose composition nothing independent checked is recorded as `unverified`.
    /// SQLite cannot alter a CHECK constraint, so `check_run` is rebuilt (rows kept, ids kept).
    static let v4 = """
        CREATE TABLE check_run_v4 (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL CHECK (kind IN ('check', 'verify')),
          checkpoint_id INTEGER REFERENCES checkpoint(id) ON DELETE CASCADE,
          started_at TEXT NOT NULL,
          finished_at TEXT NOT NULL,
          verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'unverified')),
          checks_json TEXT NOT NULL CHECK (json_valid(checks_json)),
          tool_version TEXT NOT NULL
        );
        INSERT INTO check_run_v4 (id, kind, checkpoint_id, started_at, finished_at, verdict, checks_json, tool_version)
          SELECT id, kind, checkpoint_id, started_at, finished_at, verdict, checks_json, tool_version FROM check_run;
        DROP TABLE check_run;
        ALTER TABLE check_run_v4 RENAME TO check_run;
        CREATE INDEX check_run_checkpoint ON check_run(checkpoint_id);
        """

    /// A model is its family's name plus its canonical configuration (the sorted-key JSON of
    /// `ModelConfig`, the text its fingerprint hashes), beside the original `config.json`: no
    /// column per field and no list of families or position schemes, so a new family needs no
    /// schema change. Rows of the v1 shape are converted by ``legacyModelRows(from:)``; `model`
    /// is rebuilt with its ids kept, so `base.model_id` stays valid.
    static let v5 = """
        CREATE TABLE model_v5 (
          id INTEGER PRIMARY KEY,
          config_digest TEXT NOT NULL UNIQUE CHECK (length(config_digest) = 64),
          family TEXT NOT NULL CHECK (length(family) > 0),
          canonical_config TEXT NOT NULL CHECK (json_valid(canonical_config) AND json_extract(canonical_config, '$.family') = family),
          config_json TEXT NOT NULL CHECK (json_valid(config_json))
        );
        INSERT INTO model_v5 (id, config_digest, family, canonical_config, config_json)
          \(legacyModelRows(from: "model"));
        DROP TABLE model;
        ALTER TABLE model_v5 RENAME TO model;
        """

    /// A checkpoint records the task it was trained for (HF PEFT's `task_type`: `SEQ_CLS`,
    /// `TOKEN_CLS`, ...; NULL when the source does not say) and may hold its task head's tensors
    /// under role `head`. `checkpoint_tensor` is rebuilt for its CHECK (rows kept).
    static let v6 = """
        ALTER TABLE checkpoint ADD COLUMN task_type TEXT CHECK (task_type IS NULL OR length(task_type) > 0);
        CREATE TABLE checkpoint_tensor_v6 (
          checkpoint_id INTEGER NOT NULL REFERENCES checkpoint(id) ON DELETE CASCADE,
          role TEXT NOT NULL CHECK (role IN ('prefix', 'mlp', 'probe', 'head')),
          name TEXT NOT NULL,
          layer INTEGER CHECK (layer IS NULL OR layer >= 0),
          ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
          tensor_id INTEGER NOT NULL REFERENCES tensor(id),
          PRIMARY KEY (checkpoint_id, role, name)
        ) WITHOUT ROWID;
        INSERT INTO checkpoint_tensor_v6 (checkpoint_id, role, name, layer, ordinal, tensor_id)
          SELECT checkpoint_id, role, name, layer, ordinal, tensor_id FROM checkpoint_tensor;
        DROP TABLE checkpoint_tensor;
        ALTER TABLE checkpoint_tensor_v6 RENAME TO checkpoint_tensor;
        CREATE INDEX checkpoint_tensor_tensor ON checkpoint_tensor(tensor_id);
        """

    /// Encoder-decoder checkpoints: which stored layers reach which blocks (`prefix_layout`:
    /// `direct`, or HF PEFT's `peft-seq2seq`), how many layers the encoder and cross-attention
    /// sections hold and where the encoder's inputs start; each prefix tensor names its section
    /// (`NULL` for the other roles; existing prefix rows are the decoder's).
    static let v7 = """
        ALTER TABLE checkpoint ADD COLUMN prefix_layout TEXT NOT NULL DEFAULT 'direct'
          CHECK (prefix_layout IN ('direct', 'peft-seq2seq'));
        ALTER TABLE checkpoint ADD COLUMN encoder_layers INTEGER NOT NULL DEFAULT 0 CHECK (encoder_layers >= 0);
        ALTER TABLE checkpoint ADD COLUMN cross_layers INTEGER NOT NULL DEFAULT 0 CHECK (cross_layers >= 0);
        ALTER TABLE checkpoint ADD COLUMN encoder_prefix_start INTEGER NOT NULL DEFAULT 0 CHECK (encoder_prefix_start >= 0);
        ALTER TABLE checkpoint ADD COLUMN encoder_input_start INTEGER NOT NULL DEFAULT 0 CHECK (encoder_input_start >= 0);
        ALTER TABLE checkpoint_tensor ADD COLUMN section TEXT
          CHECK (section IS NULL OR section IN ('encoder', 'decoder', 'cross'));
        UPDATE checkpoint_tensor SET section = 'decoder' WHERE role = 'prefix';
        """

    /// Provenance beyond format, path and version (a training run's step and log), as JSON.
    static let v8 = """
        ALTER TABLE checkpoint ADD COLUMN provenance_detail TEXT
          CHECK (provenance_detail IS NULL OR json_valid(provenance_detail));
        ALTER TABLE base ADD COLUMN provenance_detail TEXT
          CHECK (provenance_detail IS NULL OR json_valid(provenance_detail));
        """

    /// `SELECT id, config_digest, family, canonical_config, config_json` from a table of the v1
    /// `model` shape: the typed columns become the canonical configuration's JSON, with the keys
    /// `ModelConfig` encodes, absent optionals left out, and every REAL printed with 17
    /// significant digits so that it reads back as the same double. Part of migration v5 (and of
    /// replaying manifests written before it): never edit.
    static func legacyModelRows(from table: String) -> String {
        func real(_ column: String) -> String { "json(printf('%!.17g', \(column)))" }
        func bool(_ column: String) -> String { "json(CASE WHEN \(column) THEN 'true' ELSE 'false' END)" }
        return """
            SELECT id, config_digest, family, json_patch(json_object(
                'activation', activation, 'attentionBias', \(bool("attention_bias")), 'family', family,
                'headDim', head_dim, 'hiddenSize', hidden_size, 'intermediateSize', intermediate_size,
                'maxPositions', max_positions, 'normEps', \(real("norm_eps")), 'normKind', norm_kind,
                'numHeads', num_heads, 'numKVHeads', num_kv_heads, 'numLayers', num_layers,
                'positionScheme', position_scheme, 'tieWordEmbeddings', \(bool("tie_word_embeddings")),
                'vocabSize', vocab_size),
              json_object(
                'ropeTheta', CASE WHEN rope_theta IS NULL THEN NULL ELSE \(real("rope_theta")) END,
                'ropeScaling', CASE WHEN rope_scaling_type IS NULL OR rope_scaling_factor IS NULL THEN NULL
                  ELSE json_object('factor', \(real("rope_scaling_factor")), 'type', rope_scaling_type) END,
                'slidingWindow', sliding_window)), config_json
            FROM \(table)
            """
    }
}
