#ifndef PREFIXKIT_CPOSIX_H
#define PREFIXKIT_CPOSIX_H
// Linux calls that Glibc's Swift module does not expose (they need _GNU_SOURCE).
#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
/// Starts asynchronous writeback of every dirty page of `fd`, so that a later fsync has little
/// left to flush. Returns 0 or -1 with errno set.
static inline int cposix_start_writeback(int fd) {
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}
#else
static inline int cposix_start_writeback(int fd) { (void)fd; return 0; }
#endif
#endif
