/* fuzz_common.h - what the reader fuzz targets share: the input as a file.
 *
 * The readers take paths (they mmap or read files), so each input is written to an anonymous
 * in-memory file (memfd_create) and handed over as /proc/self/fd/N: no disk, nothing to clean
 * up, and mmap behaves as on a real file.
 */
#ifndef HUB_FUZZ_COMMON_H
#define HUB_FUZZ_COMMON_H

#ifndef _GNU_SOURCE /* (CMake defines it for every target: it must come before any header) */
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hub.h"

/* Writes data to a fresh memfd; path gets its /proc name.  Returns the fd (close it after). */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t pathlen) {
  int fd = memfd_create("hubfuzz", 0);
  if (fd < 0) {
    perror("memfd_create");
    abort();
  }
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0) abort();
    off += (size_t)w;
  }
  snprintf(path, pathlen, "/proc/self/fd/%d", fd);
  return fd;
}

/* A failed call must say why. */
static inline void fuzz_expect_error(const char *what) {
  if (!hub_last_error()[0]) {
    fprintf(stderr, "%s failed without an error message\n", what);
    abort();
  }
}

/* Reads every element of a (small) tensor: ASan sees each access. */
static inline void fuzz_touch(const hub_tensor *t) {
  int64_t n = hub_tensor_numel(t);
  if (n < 0) abort();
  if (n > (1 << 16)) return;
  double *buf = malloc(sizeof(double) * (size_t)(n ? n : 1));
  if (hub_tensor_read(t, buf, -1) != 0) abort();
  free(buf);
}

#endif
