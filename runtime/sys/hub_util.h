/* hub_util.h - checksums, file locks, directories and a few system calls for the module store.
 *
 * LuaJIT alone cannot list a directory, make one, take a lock or hash a file, and the module
 * store (lua/hub/store.lua) needs all of these; they are small C functions here so that the Lua
 * side calls them through the generated FFI declarations like any other part of hub.h.
 *
 *   char hex[65];
 *   if (hub_sha256_file("vocab.txt", hex) != 0) fprintf(stderr, "%s\n", hub_last_error());
 *   int fd = hub_lock_file("/home/me/.hubrun/modules/lac/.lock", 1);  // waits for the lock
 *   ...                                                               // install lac
 *   hub_unlock_file(fd);
 *
 * Directories are listed with an iterator (no memory to hand back):
 *
 *   hub_dir *d = hub_dir_open("modules");
 *   int kind; const char *name;
 *   while ((name = hub_dir_next(d, &kind)) != NULL) ...   // kind: HUB_FS_FILE, HUB_FS_DIR ...
 *   hub_dir_close(d);
 */
#ifndef HUB_UTIL_H
#define HUB_UTIL_H

#ifndef HUB_CDEF
#include <stddef.h>
#include <stdint.h>
#include "hub_base.h" /* HUB_API */
#endif

/* ---- SHA-256 (sha256.c) ---- */

/* The lowercase hex digest of a file (64 characters and a NUL into hex_out[65]).  0 or -1. */
HUB_API int hub_sha256_file(const char *path, char *hex_out);
/* The lowercase hex digest of len bytes. */
HUB_API void hub_sha256_hex(const void *data, size_t len, char *hex_out);

/* ---- files and directories (osutil.c) ---- */

enum { HUB_FS_NONE = 0, HUB_FS_FILE = 1, HUB_FS_DIR = 2, HUB_FS_OTHER = 3 };

/* What `path` is (symbolic links followed): HUB_FS_NONE when it does not exist. */
HUB_API int hub_fs_kind(const char *path);
/* Size of a file in bytes, or -1 + error. */
HUB_API int64_t hub_fs_size(const char *path);
/* Makes a directory and its missing parents (mode 0755).  0 or -1. */
HUB_API int hub_fs_mkdirs(const char *path);
/* Removes a file or a whole directory tree without following symbolic links; a path that does
 * not exist is not an error.  0 or -1. */
HUB_API int hub_fs_remove_tree(const char *path);
/* Makes dst a copy of the file src: a hard link when both are on one file system, otherwise a
 * byte copy written to dst.tmp and renamed.  An existing dst is replaced.  0 or -1. */
HUB_API int hub_fs_copy(const char *src, const char *dst);
/* Renames a file or a directory (rename(2)); 0 or -1 with a message naming both paths. */
HUB_API int hub_fs_rename(const char *from, const char *to);

/* Writes len bytes to path atomically: a temporary file beside it, fsync'ed, renamed over path,
 * then the directory fsync'ed.  Readers see the old content or the new one, never a part; a
 * process killed in the middle leaves path as it was (and a stray path.tmp.* file).  0 or -1. */
HUB_API int hub_fs_write_file(const char *path, const char *data, size_t len);
/* fsync(2) of a file or a directory (after renames inside it).  0 or -1. */
HUB_API int hub_fs_sync(const char *path);

typedef struct hub_dir hub_dir;
/* NULL + error when the directory cannot be opened. */
HUB_API hub_dir *hub_dir_open(const char *path);
/* The next entry's name (valid until the next call), "." and ".." skipped, or NULL at the end.
 * *kind (if not NULL) gets HUB_FS_FILE, HUB_FS_DIR or HUB_FS_OTHER (links followed). */
HUB_API const char *hub_dir_next(hub_dir *d, int *kind);
HUB_API void hub_dir_close(hub_dir *d);

/* ---- locks ---- */

/* Takes an exclusive flock(2) on `path` (created, with its parent directories, if missing).
 * With wait = 0 it returns -2 at once when another process holds the lock; otherwise it waits.
 * Returns the lock's descriptor (>= 0), or -1 + error.  A lock file removed or replaced by its
 * previous holder while this call waited is opened again, so the returned lock is always on the
 * file that `path` names. */
HUB_API int hub_lock_file(const char *path, int wait);
/* Releases a lock from hub_lock_file (closing its descriptor). */
HUB_API void hub_unlock_file(int fd);

/* ---- process ---- */

HUB_API int hub_os_pid(void);
/* 1 when the descriptor (0, 1, 2) is a terminal. */
HUB_API int hub_os_isatty(int fd);
/* The width in columns of the terminal on descriptor fd, or 0 when it is not a terminal or does
 * not say (TIOCGWINSZ). */
HUB_API int hub_os_term_columns(int fd);
/* Seconds since the epoch, with sub-second precision. */
HUB_API double hub_os_time(void);
/* Seconds of a clock that never jumps (CLOCK_MONOTONIC): for rates and elapsed times. */
HUB_API double hub_os_monotonic(void);
/* Sleeps (EINTR resumed); non-positive durations return at once. */
HUB_API void hub_os_sleep(double seconds);
/* POSIX extended regular expression match of `text` (anywhere in it); icase nonzero ignores
 * case.  1 on a match, 0 without, -1 + error for a bad pattern. */
HUB_API int hub_regex_match(const char *pattern, const char *text, int icase);

#endif
