"""Packs the prefixkit binary and the Python reader into one wheel (the ruff/uv layout: the
binary is the wheel's script), with the shell completions and the man page as data files.

    python scripts/build_wheel.py --binary B --man M --completions DIR --out DIST

The wheel is tagged py3-none-linux_x86_64; `auditwheel repair` then vendors the shared libraries
the binary needs and gives it the manylinux tag it proves (scripts/wheel does both).
"""
import argparse
import base64
import hashlib
import os
import stat
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--man", required=True)
    parser.add_argument("--completions", required=True, help="directory holding prefixkit.bash, _prefixkit, prefixkit.fish")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    version = open(os.path.join(ROOT, "VERSION")).read().strip()
    name = f"prefixkit-{version}"
    files = []  # (path in wheel, bytes, executable)
    package = os.path.join(ROOT, "python", "prefixkit")
    for entry in sorted(os.listdir(package)):
        if entry.endswith(".py"):
            files.append((f"prefixkit/{entry}", open(os.path.join(package, entry), "rb").read(), False))
    data = f"{name}.data"
    files.append((f"{data}/scripts/prefixkit", open(args.binary, "rb").read(), True))
    files.append((f"{data}/data/share/man/man1/prefixkit.1", open(args.man, "rb").read(), False))
    for source, target in [
        ("prefixkit.bash", "share/bash-completion/completions/prefixkit"),
        ("_prefixkit", "share/zsh/site-functions/_prefixkit"),
        ("prefixkit.fish", "share/fish/vendor_completions.d/prefixkit.fish"),
    ]:
        files.append((f"{data}/data/{target}", open(os.path.join(args.completions, source), "rb").read(), False))

    info = f"{name}.dist-info"
    readme = open(os.path.join(ROOT, "python", "README.md")).read()
    metadata = "\n".join([
        "Metadata-Version: 2.1",
        "Name: prefixkit",
        f"Version: {version}",
        "Summary: Store, convert and verify prefix-tuning checkpoints (the prefixkit command and a Python reader)",
        "License: Apache-2.0",
        "Requires-Python: >=3.9",
        "Requires-Dist: numpy>=1.22",
        "Requires-Dist: h5py>=3.0",
        # `prefixkit reference`: transformers + PEFT compute the reference verify checks against.
        "Provides-Extra: reference",
        'Requires-Dist: torch>=2.0; extra == "reference"',
        'Requires-Dist: transformers>=4.40; extra == "reference"',
        'Requires-Dist: peft>=0.10; extra == "reference"',
        "Classifier: Operating System :: POSIX :: Linux",
        "Description-Content-Type: text/markdown",
        "",
        readme,
    ])
    files.append((f"{info}/METADATA", metadata.encode(), False))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: prefixkit scripts/build_wheel.py\nRoot-Is-Purelib: false\n"
                  b"Tag: py3-none-linux_x86_64\n", False))
    files.append((f"{info}/licenses/LICENSE", open(os.path.join(ROOT, "LICENSE"), "rb").read(), False))

    record = []
    for path, content, _ in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content)}")
    record.append(f"{info}/RECORD,,")
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode(), False))

    os.makedirs(args.out, exist_ok=True)
    wheel = os.path.join(args.out, f"{name}-py3-none-linux_x86_64.whl")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path, content, executable in files:
            item = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = ((stat.S_IFREG | (0o755 if executable else 0o644)) << 16)
            archive.writestr(item, content)
    print(wheel)


if __name__ == "__main__":
    main()
