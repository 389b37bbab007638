#ifndef PREFIXKIT_CLIBCRYPTO_SHIM_H
#define PREFIXKIT_CLIBCRYPTO_SHIM_H
// Only OpenSSL's SHA-256 is used. The low-level SHA256_* API imports directly; it is
// deprecated in OpenSSL 3 in favour of EVP, whose per-call dispatch costs more for the many
// small tensors of a checkpoint. Silence the deprecation for this one header.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#endif
