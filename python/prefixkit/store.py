"""A PrefixKit store, read-only."""

import hashlib
import json
import os
import re
import sqlite3
import stat
import urllib.parse
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import h5py
import numpy as np

from .dtypes import STORED, decode


class StoreError(Exception):
    """The store cannot be read as asked: not a store, an unknown checkpoint, a malformed row."""


class DigestMismatch(StoreError):
    """A tensor's bytes no longer hash to the digest the catalog recorded."""


@dataclass
class Base:
    """A stored base model."""

    fingerprint: str
    alias: Optional[str]
    family: str
    config: dict
    created_at: str

    @property
    def reference(self) -> str:
        """``base:`` and the first 12 hex digits of the fingerprint."""
        return "base:" + self.fingerprint[:12]


@dataclass
class Checkpoint:
    """A stored checkpoint: one step of a name."""

    id: int
    name: str
    step: int
    base_fingerprint: str
    form: str
    prefix_length: int
    num_layers: int
    layout: str
    encoder_layers: int
    cross_layers: int
    task: Optional[str]
    parent: Optional[str]
    tags: List[str]
    created_at: str

    @property
    def reference(self) -> str:
        """``NAME@STEP``."""
        return f"{self.name}@{self.step}"


Layer = Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]


@dataclass
class Prefix:
    """A checkpoint's prefix: per layer ``[Pn, d]`` rows (hidden form) or a ``(key, value)`` pair
    of ``[Hkv, Pn, hd]`` arrays (key/value form); bf16 and float8 widened to float32."""

    checkpoint: Checkpoint
    form: str
    layers: List[Layer]
    encoder: List[Layer] = field(default_factory=list)
    cross: List[Layer] = field(default_factory=list)
    mlp: Dict[str, np.ndarray] = field(default_factory=dict)
    head: Dict[str, np.ndarray] = field(default_factory=dict)


_BLOB = re.compile(r"^blobs/[0-9a-f]{32}\.h5$")


def open_store(path: str) -> "Store":
    """Opens the store at ``path`` read-only."""
    return Store(path)


class Store:
    """A PrefixKit store opened read-only: its catalog through sqlite3, its blobs through h5py."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        catalog = os.path.join(self.path, "catalog.sqlite")
        for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "blobs"):
            if os.path.islink(os.path.join(self.path, name)):
                raise StoreError(f"{os.path.join(self.path, name)} is a symbolic link: a store's files are never links (refused)")
        if not os.path.isfile(catalog):
            raise StoreError(f"{self.path}: no catalog.sqlite: not a PrefixKit store")
        wal, shm = catalog + "-wal", catalog + "-shm"
        wal_size = os.stat(wal).st_size if os.path.exists(wal) else 0
        # The path goes into a URI quoted whole: '%', '?' and '#' in a directory name stay themselves.
        uri = "file:" + urllib.parse.quote(catalog)
        if wal_size == 0:
            # Everything is in catalog.sqlite: read it as an immutable file, which creates nothing.
            uri += "?mode=ro&immutable=1"
        elif os.path.isfile(shm):
            # Committed pages in the WAL: read through the existing index (SQLite creates no file).
            uri += "?mode=ro"
        else:
            raise StoreError(
                f"{catalog}: its write-ahead log holds {wal_size} bytes but has no shared-memory index; reading it consistently "
                "would create catalog.sqlite-shm, which this reader never does: open the store once with prefixkit first")
        try:
            self._db = sqlite3.connect(uri, uri=True)
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{catalog}: {error}") from error
        if not {"checkpoint", "tensor", "blob", "base"} <= tables:
            raise StoreError(f"{catalog}: holds no PrefixKit schema")

    def close(self) -> None:
        """Closes the catalog."""
        self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # Listing.

    def bases(self) -> List[Base]:
        """Every stored base, by fingerprint."""
        rows = self._db.execute(
            "SELECT b.fingerprint, b.alias, m.family, m.canonical_config, b.created_at FROM base b JOIN model m ON m.id = b.model_id "
            "ORDER BY b.fingerprint")
        return [Base(fp, alias, family, json.loads(config), created) for fp, alias, family, config, created in rows]

    def base(self, reference: str) -> Base:
        """A base by ``base:FP`` (a fingerprint prefix of 8 or more hex digits) or alias."""
        for base in self.bases():
            if reference.startswith("base:") and len(reference) >= 13 and base.fingerprint.startswith(reference[5:]):
                return base
            if base.alias == reference:
                return base
        raise StoreError(f"no base matches {reference!r}")

    def checkpoints(self) -> List[Checkpoint]:
        """Every stored checkpoint, by name then step."""
        ids = [row[0] for row in self._db.execute("SELECT id FROM checkpoint ORDER BY name, step")]
        return [self._checkpoint(i) for i in ids]

    def checkpoint(self, reference: str) -> Checkpoint:
        """A checkpoint by ``NAME`` (its latest step) or ``NAME@STEP``."""
        name, at, step = reference.partition("@")
        if at:
            if not step.isdigit():
                raise StoreError(f"malformed checkpoint reference {reference!r} (expected NAME or NAME@STEP)")
            row = self._db.execute("SELECT id FROM checkpoint WHERE name = ? AND step = ?", (name, int(step))).fetchone()
        else:
            row = self._db.execute("SELECT id FROM checkpoint WHERE name = ? ORDER BY step DESC LIMIT 1", (name,)).fetchone()
        if row is None:
            steps = [r[0] for r in self._db.execute("SELECT step FROM checkpoint WHERE name = ? ORDER BY step", (name,))]
            hint = f": {name} has steps {', '.join(map(str, steps))}" if steps else ""
            raise StoreError(f"no checkpoint {reference!r} in the store{hint}")
        return self._checkpoint(row[0])

    def _checkpoint(self, id: int) -> Checkpoint:
        row = self._db.execute(
            "SELECT c.id, c.name, c.step, c.base_fingerprint, c.form, c.prefix_length, c.num_layers, c.prefix_layout, c.encoder_layers, "
            "c.cross_layers, c.task_type, p.name || '@' || p.step, c.created_at FROM checkpoint c LEFT JOIN checkpoint p ON p.id = c.parent_id "
            "WHERE c.id = ?", (id,)).fetchone()
        tags = [r[0] for r in self._db.execute("SELECT tag FROM checkpoint_tag WHERE checkpoint_id = ? ORDER BY tag", (id,))]
        (cid, name, step, base, form, pn, layers, layout, encoder, cross, task, parent, created) = row
        return Checkpoint(cid, name, step, base, form, pn, layers, layout, encoder, cross, task, parent, tags, created)

    # Reading tensors.

    def _read(self, blob_path: str, dataset: str, dtype: str, shape: list, sha256: str, verify: bool, what: str) -> np.ndarray:
        if not _BLOB.match(blob_path):
            raise StoreError(f"{what}: the catalog names blob {blob_path!r}, not a path inside blobs/")
        if dtype not in STORED:
            raise StoreError(f"{what}: unknown dtype {dtype!r} in the catalog")
        path = os.path.join(self.path, blob_path)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise StoreError(f"{what}: blob file {path} is missing") from None
        if not stat.S_ISREG(mode):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
            raise StoreError(f"{what}: blob file {path} is {kind}: refused (a store's blobs are regular files inside it)")
        stored = STORED[dtype]
        try:
            with h5py.File(path, "r") as blob:
                data = blob[dataset]
                # Checked before a byte is read: a damaged blob cannot make the reader allocate more
                # than the catalog says the tensor holds.
                if not isinstance(data, h5py.Dataset) or list(data.shape) != list(shape) or data.dtype.itemsize != stored.itemsize:
                    found = f"{data.dtype}{list(data.shape)}" if isinstance(data, h5py.Dataset) else "a group"
                    raise StoreError(f"{what}: {path}{dataset} holds {found}, the catalog says {dtype}{list(shape)}")
                raw = np.asarray(data[()])
        except (OSError, KeyError) as error:
            raise StoreError(f"{what}: cannot read {dataset} in {path}: {error}") from error
        raw = np.ascontiguousarray(raw).astype(stored, copy=False)
        if verify and hashlib.sha256(raw.tobytes()).hexdigest() != sha256:
            raise DigestMismatch(f"{what}: the bytes of {path}{dataset} do not match the catalog's SHA-256 {sha256[:16]}...")
        return decode(raw, dtype)

    def load(self, reference: str, verify: bool = True) -> Prefix:
        """The prefix of checkpoint ``reference`` (and its MLP and task head), every tensor checked
        against its digest unless ``verify`` is False."""
        info = self.checkpoint(reference)
        rows = self._db.execute(
            "SELECT ct.name, ct.role, ct.layer, coalesce(ct.section, 'decoder'), t.dtype, t.shape, t.sha256, t.dataset, b.path "
            "FROM checkpoint_tensor ct JOIN tensor t ON t.id = ct.tensor_id JOIN blob b ON b.id = t.blob_id "
            "WHERE ct.checkpoint_id = ? ORDER BY ct.ordinal", (info.id,)).fetchall()
        sections: Dict[str, Dict[int, Dict[str, np.ndarray]]] = {"encoder": {}, "decoder": {}, "cross": {}}
        prefix = Prefix(info, info.form, [])
        for name, role, layer, section, dtype, shape, sha256, dataset, blob in rows:
            value = self._read(blob, dataset, dtype, json.loads(shape), sha256, verify, f"{info.reference} {name}")
            if role == "prefix":
                part = name.rsplit(".", 1)[1] if name.endswith((".key", ".value")) else "hidden"
                sections.setdefault(section, {}).setdefault(layer, {})[part] = value
            elif role == "mlp":
                prefix.mlp[name] = value
            elif role == "head":
                prefix.head[name] = value

        def layers(section: str, count: int) -> List[Layer]:
            found = sections.get(section, {})
            if sorted(found) != list(range(count)):
                raise StoreError(f"{info.reference}: the {section} section holds layers {sorted(found)}, expected 0..{count - 1}")
            return [found[l]["hidden"] if info.form == "hidden" and section != "cross" else (found[l]["key"], found[l]["value"])
                    for l in range(count)]

        prefix.layers = layers("decoder", info.num_layers)
        prefix.encoder = layers("encoder", info.encoder_layers) if info.encoder_layers else []
        prefix.cross = layers("cross", info.cross_layers) if info.cross_layers else []
        return prefix

    def prompt_embeddings(self, reference: str, verify: bool = True) -> np.ndarray:
        """PEFT's ``prompt_embeddings`` ``[Pn, L * 2 * token_dim]`` for a key/value checkpoint: row
        p, column ((2l + kv) * Hkv + h) * hd + e holds layer l's key (kv = 0) or value [h, p, e]."""
        prefix = self.load(reference, verify=verify)
        if prefix.form != "kv":
            raise StoreError(
                f"{prefix.checkpoint.reference} is in hidden form: its keys and values come from the base model's layers "
                "(prefixkit kv, or prefixkit export --format peft, converts it exactly)")
        columns = []
        for key, value in prefix.layers:
            for part in (key, value):
                heads, pn, hd = part.shape
                columns.append(part.transpose(1, 0, 2).reshape(pn, heads * hd))
        return np.concatenate(columns, axis=1)

    def verify(self) -> List[str]:
        """Every stored tensor's bytes hashed against the catalog: the problems found ([] when none)."""
        problems = []
        rows = self._db.execute(
            "SELECT t.id, t.dtype, t.shape, t.sha256, t.dataset, b.path FROM tensor t JOIN blob b ON b.id = t.blob_id ORDER BY t.id")
        for tid, dtype, shape, sha256, dataset, blob in rows.fetchall():
            try:
                self._read(blob, dataset, dtype, json.loads(shape), sha256, True, f"tensor {tid}")
            except StoreError as error:
                problems.append(str(error))
        return problems
