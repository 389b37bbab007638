#ifndef PREFIXKIT_CLIBZ_H
#define PREFIXKIT_CLIBZ_H
// zlib, for its CRC-32 (the checksum of every ZIP member PrefixKit writes).
#include <zlib.h>
#endif
