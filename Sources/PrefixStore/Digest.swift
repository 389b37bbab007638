internal import CLibCrypto

/// SHA-256, through OpenSSL's libcrypto (which uses the CPU's SHA extensions when present).
///
/// SHA-256 is the digest of every stored tensor: collision-resistant enough to address content
/// (deduplication trusts it), standard enough that `hashlib.sha256` or `sha256sum` can check a
/// tensor read with h5py, and about 2 GB/s per core with SHA-NI; a save hashes on every core
/// while it writes, so hashing does not bound it.
public enum SHA256Digest {
    /// The lowercase hex digest of `bytes`.
    public static func hex(of bytes: UnsafeRawBufferPointer) -> String {
        var context = SHA256_CTX()
        _ = SHA256_Init(&context)
        // Feed at most 1 GiB per call: `SHA256_Update` takes a size_t, but stay well within it.
        var offset = 0
        while offset < bytes.count {
            let count = min(bytes.count - offset, 1 << 30)
            _ = SHA256_Update(&context, bytes.baseAddress.map { $0 + offset }, count)
            offset += count
        }
        var digest = [UInt8](repeating: 0, count: 32)
        _ = SHA256_Final(&digest, &context)
        return hexString(digest)
    }

    /// The lowercase hex digest of the UTF-8 bytes of `text`.
    public static func hex(of text: String) -> String {
        var text = text
        return text.withUTF8 { hex(of: UnsafeRawBufferPointer($0)) }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
