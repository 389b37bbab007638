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
#include <unistd.h>
/// Copies `length` bytes from `in` at `offset` to the current position of `out`, inside the
/// kernel (no user-space buffer). Returns the bytes copied, or -1 with errno set.
static inline long cposix_copy_range(int in, long offset, int out, unsigned long length) {
    __off64_t from = offset;
    return (long)copy_file_range(in, &from, out, NULL, length, 0);
}
#else
static inline int cposix_start_writeback(int fd) { (void)fd; return 0; }
static inline long cposix_copy_range(int in, long offset, int out, unsigned long length) {
    (void)in; (void)offset; (void)out; (void)length; return -1;
}
#endif
#endif
