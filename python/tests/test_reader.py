"""The reader against stores the prefixkit binary writes ($PREFIXKIT_BIN), on the committed fixtures."""

import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import numpy as np
from safetensors.numpy import load_file

import prefixkit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "fixtures", "peft", "gpt2-tiny")
BIN = os.environ.get("PREFIXKIT_BIN", "prefixkit")


def run(*arguments):
    result = subprocess.run([BIN, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"prefixkit {' '.join(arguments)}: {result.stderr}")
    return result.stdout


def f8_file(path, dtype):
    """A key/value prefix for the fixture model (2 layers of [2, 4, 8]) whose 256 values are every
    float8 code, as a safetensors file laid out by hand."""
    codes = np.arange(256, dtype=np.uint8)
    names = [f"prefix.layer_{l:02d}.{part}" for l in range(2) for part in ("key", "value")]
    header, offset, data = {}, 0, b""
    for i, name in enumerate(sorted(names)):
        chunk = codes[i * 64:(i + 1) * 64].tobytes()
        header[name] = {"dtype": dtype, "shape": [2, 4, 8], "data_offsets": [offset, offset + len(chunk)]}
        offset += len(chunk)
        data += chunk
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


class ReaderTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.store = os.path.join(cls.dir, "s")
        run("import", cls.store, os.path.join(FIXTURE, "base"))
        run("import", cls.store, os.path.join(FIXTURE, "adapter"), "--name", "kv", "--step", "3", "--base-by-shape")
        run("import", cls.store, os.path.join(FIXTURE, "hidden_prefix.npz"), "--name", "hidden", "--parent", "kv@3", "--tag", "t")
        bf16 = os.path.join(cls.dir, "bf16.safetensors")
        run("convert", os.path.join(FIXTURE, "adapter"), bf16, "--to", "safetensors", "--dtype", "bf16")
        run("import", cls.store, bf16, "--name", "bf16")
        for dtype, name in (("F8_E4M3", "e4m3"), ("F8_E5M2", "e5m2")):
            path = os.path.join(cls.dir, name + ".safetensors")
            f8_file(path, dtype)
            run("import", cls.store, path, "--name", name)
            # PrefixKit's own (Swift) widening, to compare with.
            run("export", cls.store, name, "--format", "npz", "--dtype", "f32", "--out", os.path.join(cls.dir, name + "-f32.npz"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def test_lists_bases_and_checkpoints(self):
        with prefixkit.open_store(self.store) as store:
            self.assertEqual([b.config["family"] for b in store.bases()], ["gpt2"])
            listed = {c.reference: c for c in store.checkpoints()}
            self.assertEqual(sorted(listed), ["bf16@0", "e4m3@0", "e5m2@0", "hidden@0", "kv@3"])
            hidden = store.checkpoint("hidden")
            self.assertEqual((hidden.form, hidden.prefix_length, hidden.num_layers, hidden.parent, hidden.tags),
                             ("hidden", 3, 2, "kv@3", ["t"]))
            self.assertEqual(store.base(store.bases()[0].reference).fingerprint, hidden.base_fingerprint)
            with self.assertRaisesRegex(prefixkit.StoreError, "kv has steps 3"):
                store.checkpoint("kv@4")

    def test_prefixes_load_as_stored(self):
        with prefixkit.open_store(self.store) as store:
            hidden = store.load("hidden")
            expected = np.load(os.path.join(FIXTURE, "hidden_prefix.npz"))
            for l, rows in enumerate(hidden.layers):
                np.testing.assert_array_equal(rows, expected[f"prefix.layer_{l:02d}"])
            # PEFT's flat tensor, rebuilt from the per-layer keys and values, is the adapter's own.
            original = load_file(os.path.join(FIXTURE, "adapter", "adapter_model.safetensors"))["prompt_embeddings"]
            flat = store.prompt_embeddings("kv")
            self.assertEqual(flat.dtype, original.dtype)
            self.assertEqual(flat.tobytes(), original.tobytes())
            with self.assertRaisesRegex(prefixkit.StoreError, "hidden form"):
                store.prompt_embeddings("hidden")

    def test_bf16_widens_to_the_rounded_values(self):
        original = load_file(os.path.join(FIXTURE, "adapter", "adapter_model.safetensors"))["prompt_embeddings"].astype(np.float32)
        # Round to nearest even, in integers: what narrowing f32 to bf16 means.
        bits = original.view(np.uint32).astype(np.uint64)
        rounded = (((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
        with prefixkit.open_store(self.store) as store:
            self.assertEqual(store.prompt_embeddings("bf16").tobytes(), rounded.tobytes())

    def test_float8_widens_as_prefixkit_does(self):
        with prefixkit.open_store(self.store) as store:
            for name in ("e4m3", "e5m2"):
                prefix = store.load(name)
                swift = np.load(os.path.join(self.dir, name + "-f32.npz"))
                for l, (key, value) in enumerate(prefix.layers):
                    for part, array in (("key", key), ("value", value)):
                        np.testing.assert_array_equal(array, swift[f"prefix.layer_{l:02d}.{part}"], err_msg=f"{name} {l} {part}")
            # Spot values, by the formats' definitions.
            e4m3 = prefixkit.decode(np.array([0x38, 0x01, 0x7E, 0x7F, 0xB8], dtype=np.uint8), "f8e4m3")
            np.testing.assert_array_equal(e4m3[[0, 1, 2, 4]], [1.0, 2.0 ** -9, 448.0, -1.0])
            self.assertTrue(np.isnan(e4m3[3]))
            e5m2 = prefixkit.decode(np.array([0x3C, 0x7B, 0x7C, 0x01], dtype=np.uint8), "f8e5m2")
            np.testing.assert_array_equal(e5m2, [1.0, 57344.0, np.inf, 2.0 ** -16])

    def test_digests_are_checked_and_nothing_is_written(self):
        copy = os.path.join(self.dir, "copy")
        shutil.copytree(self.store, copy)
        def state():
            # The catalog and every blob, byte for byte (SQLite's readers keep their index in -shm).
            files = ["catalog.sqlite"] + [os.path.join("blobs", b) for b in sorted(os.listdir(os.path.join(copy, "blobs")))]
            return {f: open(os.path.join(copy, f), "rb").read() for f in files}

        before = state()
        with prefixkit.open_store(copy) as store:
            self.assertEqual(store.verify(), [])
            row = store._db.execute(
                "SELECT b.path, t.file_offset FROM checkpoint_tensor ct JOIN checkpoint c ON c.id = ct.checkpoint_id "
                "JOIN tensor t ON t.id = ct.tensor_id JOIN blob b ON b.id = t.blob_id WHERE c.name = 'hidden' AND ct.name = 'layer_01'"
            ).fetchone()
        self.assertTrue(state() == before)
        path, offset = row
        with open(os.path.join(copy, path), "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0x40]))
        with prefixkit.open_store(copy) as store:
            problems = store.verify()
            self.assertEqual(len(problems), 1, problems)
            with self.assertRaisesRegex(prefixkit.DigestMismatch, "hidden@0 layer_01"):
                store.load("hidden")
            store.load("hidden", verify=False)
            store.load("kv")

    def test_a_catalog_that_disagrees_with_its_blob_is_refused_before_reading(self):
        copy = os.path.join(self.dir, "lying")
        shutil.copytree(self.store, copy)
        import sqlite3
        db = sqlite3.connect(os.path.join(copy, "catalog.sqlite"))
        # The catalog claims a shape the blob's dataset does not have.
        db.execute("UPDATE tensor SET shape = '[3, 1000000]' WHERE id IN (SELECT tensor_id FROM checkpoint_tensor ct "
                   "JOIN checkpoint c ON c.id = ct.checkpoint_id WHERE c.name = 'hidden' AND ct.name = 'layer_00')")
        db.commit()
        db.close()
        with prefixkit.open_store(copy) as store:
            with self.assertRaisesRegex(prefixkit.StoreError, r"hidden@0 layer_00: .* holds float32\[3, 16\], the catalog says f32\[3, 1000000\]"):
                store.load("hidden")

    def listing(self, directory):
        return sorted(os.listdir(directory))

    def test_opening_creates_no_file(self):
        copy = os.path.join(self.dir, "untouched")
        shutil.copytree(self.store, copy)
        for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
            if os.path.exists(os.path.join(copy, name)):
                os.remove(os.path.join(copy, name))
        before = self.listing(copy)
        with prefixkit.open_store(copy) as store:
            self.assertTrue(store.checkpoints())
            store.load("kv")
        self.assertEqual(self.listing(copy), before)

    def test_a_wal_without_its_index_is_named_not_indexed(self):
        copy = os.path.join(self.dir, "walonly")
        shutil.copytree(self.store, copy)
        with open(os.path.join(copy, "catalog.sqlite-wal"), "wb") as f:
            f.write(b"\0" * 4096)
        if os.path.exists(os.path.join(copy, "catalog.sqlite-shm")):
            os.remove(os.path.join(copy, "catalog.sqlite-shm"))
        before = self.listing(copy)
        with self.assertRaisesRegex(prefixkit.StoreError, "no shared-memory index"):
            prefixkit.open_store(copy)
        self.assertEqual(self.listing(copy), before)

    def test_a_linked_catalog_is_refused_and_nothing_is_created_beside_its_target(self):
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.makedirs(elsewhere)
        copy = os.path.join(self.dir, "linked")
        shutil.copytree(self.store, copy)
        shutil.move(os.path.join(copy, "catalog.sqlite"), os.path.join(elsewhere, "catalog.sqlite"))
        os.symlink(os.path.join(elsewhere, "catalog.sqlite"), os.path.join(copy, "catalog.sqlite"))
        with self.assertRaisesRegex(prefixkit.StoreError, "symbolic link"):
            prefixkit.open_store(copy)
        self.assertEqual(self.listing(elsewhere), ["catalog.sqlite"])

    def test_a_linked_blob_is_refused(self):
        copy = os.path.join(self.dir, "linkedblob")
        shutil.copytree(self.store, copy)
        blobs = os.path.join(copy, "blobs")
        for name in os.listdir(blobs):
            outside = os.path.join(self.dir, "outside-" + name)
            shutil.move(os.path.join(blobs, name), outside)
            os.symlink(outside, os.path.join(blobs, name))
        with prefixkit.open_store(copy) as store:
            with self.assertRaisesRegex(prefixkit.StoreError, "symbolic link"):
                store.load("kv")

    def test_paths_are_not_percent_decoded(self):
        for name in ("pA%41", "pAA"):
            shutil.copytree(self.store, os.path.join(self.dir, name))
        run("delete", os.path.join(self.dir, "pAA"), "hidden")
        with prefixkit.open_store(os.path.join(self.dir, "pA%41")) as store:
            self.assertIn("hidden@0", [c.reference for c in store.checkpoints()])

    def test_not_a_store(self):
        with self.assertRaisesRegex(prefixkit.StoreError, "not a PrefixKit store"):
            prefixkit.open_store(self.dir)


if __name__ == "__main__":
    unittest.main()
