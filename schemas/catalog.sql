
CREATE TABLE store_setting (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
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
  dtype TEXT NOT NULL CHECK (dtype IN ('f64','f32','f16','bf16','f8e4m3','f8e5m2','i64','i32','i16','i8','u64','u32','u16','u8','bool')),
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
, weights_metadata TEXT CHECK (weights_metadata IS NULL OR json_valid(weights_metadata)), provenance_detail TEXT
  CHECK (provenance_detail IS NULL OR json_valid(provenance_detail)));
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
  tool_version TEXT NOT NULL, task_type TEXT CHECK (task_type IS NULL OR length(task_type) > 0), prefix_layout TEXT NOT NULL DEFAULT 'direct'
  CHECK (prefix_layout IN ('direct', 'peft-seq2seq')), encoder_layers INTEGER NOT NULL DEFAULT 0 CHECK (encoder_layers >= 0), cross_layers INTEGER NOT NULL DEFAULT 0 CHECK (cross_layers >= 0), encoder_prefix_start INTEGER NOT NULL DEFAULT 0 CHECK (encoder_prefix_start >= 0), encoder_input_start INTEGER NOT NULL DEFAULT 0 CHECK (encoder_input_start >= 0), provenance_detail TEXT
  CHECK (provenance_detail IS NULL OR json_valid(provenance_detail)),
  UNIQUE (name, step)
);
CREATE INDEX checkpoint_base ON checkpoint(base_fingerprint);
CREATE INDEX checkpoint_parent ON checkpoint(parent_id);
CREATE TABLE checkpoint_tag (
  checkpoint_id INTEGER NOT NULL REFERENCES checkpoint(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (checkpoint_id, tag)
) WITHOUT ROWID;
CREATE TABLE base_file (
  base_fingerprint TEXT NOT NULL REFERENCES base(fingerprint) ON DELETE CASCADE,
  name TEXT NOT NULL CHECK (length(name) > 0 AND instr(name, '/') = 0),
  tensor_id INTEGER NOT NULL REFERENCES tensor(id),
  PRIMARY KEY (base_fingerprint, name)
) WITHOUT ROWID;
CREATE INDEX base_file_tensor ON base_file(tensor_id);
CREATE TABLE "check_run" (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('check', 'verify')),
  checkpoint_id INTEGER REFERENCES checkpoint(id) ON DELETE CASCADE,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'unverified')),
  checks_json TEXT NOT NULL CHECK (json_valid(checks_json)),
  tool_version TEXT NOT NULL
);
CREATE INDEX check_run_checkpoint ON check_run(checkpoint_id);
CREATE TABLE "model" (
  id INTEGER PRIMARY KEY,
  config_digest TEXT NOT NULL UNIQUE CHECK (length(config_digest) = 64),
  family TEXT NOT NULL CHECK (length(family) > 0),
  canonical_config TEXT NOT NULL CHECK (json_valid(canonical_config) AND json_extract(canonical_config, '$.family') = family),
  config_json TEXT NOT NULL CHECK (json_valid(config_json))
);
CREATE TABLE "checkpoint_tensor" (
  checkpoint_id INTEGER NOT NULL REFERENCES checkpoint(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('prefix', 'mlp', 'probe', 'head')),
  name TEXT NOT NULL,
  layer INTEGER CHECK (layer IS NULL OR layer >= 0),
  ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
  tensor_id INTEGER NOT NULL REFERENCES tensor(id), section TEXT
  CHECK (section IS NULL OR section IN ('encoder', 'decoder', 'cross')),
  PRIMARY KEY (checkpoint_id, role, name)
) WITHOUT ROWID;
CREATE INDEX checkpoint_tensor_tensor ON checkpoint_tensor(tensor_id);
