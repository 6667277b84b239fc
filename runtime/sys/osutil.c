/* osutil.c - directories, file copies, flock(2) locks and small system calls for the module store.
 *
 * These are the POSIX calls the Lua module store cannot reach from plain LuaJIT (see hub_util.h).
 * Each one reports failures through hub_err with the path and strerror(errno).  Trees are removed
 * with nftw(3) depth-first without following links, so a link inside a module never lets a
 * removal escape the module's directory.  Copies prefer a hard link (instant, no extra space;
 * module files are never written in place) and fall back to a byte copy through dst.tmp.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub_util.h"
#include "internal.h"

int hub_fs_kind(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return HUB_FS_NONE;
  if (S_ISREG(st.st_mode)) return HUB_FS_FILE;
  if (S_ISDIR(st.st_mode)) return HUB_FS_DIR;
  return HUB_FS_OTHER;
}

int64_t hub_fs_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return hub_err("%s: %s", path, strerror(errno));
  return (int64_t)st.st_size;
}

int hub_fs_mkdirs(const char *path) {
  size_t n = strlen(path);
  if (n == 0) return hub_err("mkdir: empty path");
  char *p = malloc(n + 1);
  if (!p) return hub_err("mkdir %s: out of memory", path);
  memcpy(p, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      free(p);
      return hub_err("mkdir %s: %s", path, strerror(e));
    }
    p[i] = c;
  }
  free(p);
  if (hub_fs_kind(path) != HUB_FS_DIR) return hub_err("mkdir %s: exists and is not a directory", path);
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
  if (rc != 0 && errno != ENOENT) {
    hub_err("remove %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int hub_fs_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : hub_err("remove %s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : hub_err("remove %s: %s", path, strerror(errno));
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static int copy_bytes(const char *src, const char *dst) {
  size_t n = strlen(dst);
  char *tmp = malloc(n + 5);
  if (!tmp) return hub_err("copy %s: out of memory", src);
  snprintf(tmp, n + 5, "%s.tmp", dst);
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    free(tmp);
    return hub_err("copy %s: %s", src, strerror(errno));
  }
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    int e = errno;
    close(in);
    hub_err("copy to %s: %s", tmp, strerror(e));
    free(tmp);
    return -1;
  }
  static _Thread_local char buf[1 << 16];
  int rc = 0;
  for (;;) {
    ssize_t r = read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = hub_err("copy %s: read error (%s)", src, strerror(errno));
      break;
    }
    if (r == 0) break;
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        rc = hub_err("copy to %s: %s", dst, strerror(errno));
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  close(in);
  if (close(out) != 0 && rc == 0) rc = hub_err("copy to %s: %s", dst, strerror(errno));
  if (rc == 0 && rename(tmp, dst) != 0) rc = hub_err("copy to %s: %s", dst, strerror(errno));
  if (rc != 0) unlink(tmp);
  free(tmp);
  return rc;
}

int hub_fs_copy(const char *src, const char *dst) {
  if (hub_fs_kind(src) != HUB_FS_FILE) return hub_err("copy %s: not a file", src);
  unlink(dst);
  if (link(src, dst) == 0) return 0;
  return copy_bytes(src, dst);
}

int hub_fs_rename(const char *from, const char *to) {
  if (rename(from, to) != 0) return hub_err("rename %s to %s: %s", from, to, strerror(errno));
  return 0;
}

static int write_all_fd(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int hub_fs_sync(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return hub_err("sync %s: %s", path, strerror(errno));
  int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : hub_err("sync %s: %s", path, strerror(errno));
  close(fd);
  return rc;
}

/* The parent directory of path ("." when it has no slash). */
static char *parent_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
}

int hub_fs_write_file(const char *path, const char *data, size_t len) {
  size_t tlen = strlen(path) + 48;
  char *tmp = malloc(tlen);
  if (!tmp) return hub_err("write %s: out of memory", path);
  static unsigned counter;
  snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
  int rc = 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    rc = hub_err("write %s: cannot create %s: %s", path, tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  if (write_all_fd(fd, data, len) != 0 || fsync(fd) != 0) rc = hub_err("write %s: %s", path, strerror(errno));
  if (close(fd) != 0 && rc == 0) rc = hub_err("write %s: %s", path, strerror(errno));
  if (rc == 0 && rename(tmp, path) != 0) rc = hub_err("write %s: renaming %s: %s", path, tmp, strerror(errno));
  if (rc != 0) {
    unlink(tmp);
  } else {
    char *dir = parent_of(path);
    if (dir) hub_fs_sync(dir); /* the rename itself survives a crash (best effort) */
    free(dir);
  }
  free(tmp);
  return rc;
}

struct hub_dir {
  DIR *d;
  char *path;
  char *scratch; /* path + "/" + name for stat() when d_type is unknown or a link */
  size_t cap;
};

hub_dir *hub_dir_open(const char *path) {
  DIR *d = opendir(path);
  if (!d) return hub_errp("%s: %s", path, strerror(errno));
  hub_dir *h = calloc(1, sizeof *h);
  if (h) h->path = strdup(path);
  if (!h || !h->path) {
    closedir(d);
    if (h) free(h);
    return hub_errp("%s: out of memory", path);
  }
  h->d = d;
  return h;
}

const char *hub_dir_next(hub_dir *h, int *kind) {
  if (!h) return NULL;
  for (;;) {
    struct dirent *e = readdir(h->d);
    if (!e) return NULL;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (kind) {
      if (e->d_type == DT_REG) {
        *kind = HUB_FS_FILE;
      } else if (e->d_type == DT_DIR) {
        *kind = HUB_FS_DIR;
      } else {
        size_t need = strlen(h->path) + strlen(e->d_name) + 2;
        if (need > h->cap) {
          char *s = realloc(h->scratch, need);
          if (!s) {
            *kind = HUB_FS_OTHER;
            return e->d_name;
          }
          h->scratch = s;
          h->cap = need;
        }
        snprintf(h->scratch, h->cap, "%s/%s", h->path, e->d_name);
        int k = hub_fs_kind(h->scratch);
        *kind = k == HUB_FS_NONE ? HUB_FS_OTHER : k;
      }
    }
    return e->d_name;
  }
}

void hub_dir_close(hub_dir *h) {
  if (!h) return;
  closedir(h->d);
  free(h->path);
  free(h->scratch);
  free(h);
}

/* Creates the parent directory of `path` (for a lock file in a module directory that an
 * uninstall removed meanwhile). */
static int make_parent(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return 0;
  size_t n = (size_t)(slash - path);
  char *dir = malloc(n + 1);
  if (!dir) return hub_err("lock %s: out of memory", path);
  memcpy(dir, path, n);
  dir[n] = '\0';
  int rc = hub_fs_mkdirs(dir);
  free(dir);
  return rc;
}

int hub_lock_file(const char *path, int wait) {
  for (int tries = 0; tries < 100; tries++) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
      if (make_parent(path) != 0) return -1;
      fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd < 0) return hub_err("lock %s: %s", path, strerror(errno));
    int rc;
    do rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int e = errno;
      close(fd);
      if (e == EWOULDBLOCK) {
        hub_err("lock %s: held by another process", path);
        return -2;
      }
      return hub_err("lock %s: %s", path, strerror(e));
    }
    /* The holder before us may have removed the file (uninstalling the last version): our lock
     * is then on an orphan inode, and a newcomer would lock a new file.  Lock the path's file. */
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return fd;
    close(fd);
  }
  return hub_err("lock %s: the lock file keeps being replaced", path);
}

void hub_unlock_file(int fd) {
  if (fd < 0) return;
  flock(fd, LOCK_UN);
  close(fd);
}

int hub_os_pid(void) { return (int)getpid(); }

int hub_os_isatty(int fd) { return isatty(fd) ? 1 : 0; }

int hub_os_term_columns(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

void hub_os_sleep(double seconds) {
  if (!(seconds > 0)) return;
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

double hub_os_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double hub_os_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int hub_regex_match(const char *pattern, const char *text, int icase) {
  regex_t re;
  int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
  if (rc != 0) {
    char msg[256];
    regerror(rc, &re, msg, sizeof msg);
    return hub_err("bad regular expression '%s': %s", pattern, msg);
  }
  rc = regexec(&re, text, 0, NULL, 0);
  regfree(&re);
  return rc == 0 ? 1 : 0;
}
