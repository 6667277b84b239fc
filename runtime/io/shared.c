/* shared.c - the process-wide cache of weight files that lets runtimes share loaded weights.
 *
 * Every hub_runtime is its own Lua state, but all of them live in one process, so a weight
 * file needs to be mapped only once: hub_shared_open looks the file up by its identity
 * (absolute path, device and inode, size, modification time) in a small list guarded by a
 * mutex, and hands out the same hub_st_file to every caller.  Tensors taken from it with
 * hub_st_get point into that one mapping, so every runtime sees the same data pointer.
 *
 * Each entry counts its users (hub_shared_open and hub_shared_retain add one, hub_shared_close
 * removes one).  When the count reaches zero the entry leaves the list and its reference to the
 * hub_st_file is dropped; tensors still alive keep the mapping (safetensors.c refcounts it).
 * A file whose identity changed on disk (replaced by hub_st_save, say) no longer matches its
 * old entry: the old entry is marked stale, lives on for its users, and a new one is made.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "hub_io.h"

typedef struct shared_entry {
  struct shared_entry *next;
  char *path; /* absolute, symbolic links resolved */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  hub_st_file *file;
  int users;
  int stale; /* the file on disk changed: never handed out again */
} shared_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_entry *g_entries;

static int same_file(const shared_entry *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* The entry holding f, or NULL.  Called with g_lock held. */
static shared_entry *find_file(const hub_st_file *f) {
  for (shared_entry *e = g_entries; e; e = e->next)
    if (e->file == f) return e;
  return NULL;
}

static void unlink_entry(shared_entry *gone) {
  for (shared_entry **p = &g_entries; *p; p = &(*p)->next) {
    if (*p == gone) {
      *p = gone->next;
      return;
    }
  }
}

hub_st_file *hub_shared_open(const char *path) {
  if (!path || !*path) return hub_errp("load_shared: no file name");
  char *abs = realpath(path, NULL);
  if (!abs) return hub_errp("load_shared %s: %s", path, strerror(errno));
  struct stat st;
  if (stat(abs, &st) != 0) {
    hub_errp("load_shared %s: %s", path, strerror(errno));
    free(abs);
    return NULL;
  }
  pthread_mutex_lock(&g_lock);
  for (shared_entry *e = g_entries; e; e = e->next) {
    if (e->stale || strcmp(e->path, abs) != 0) continue;
    if (same_file(e, &st)) {
      e->users++;
      hub_st_file *f = e->file;
      pthread_mutex_unlock(&g_lock);
      free(abs);
      return f;
    }
    e->stale = 1;
  }
  /* Mapped under the lock, so two runtimes opening the same new file map it once. */
  hub_st_file *f = hub_st_open(abs);
  shared_entry *e = f ? calloc(1, sizeof *e) : NULL;
  if (!e) {
    if (f) hub_st_close(f);
    pthread_mutex_unlock(&g_lock);
    free(abs);
    return f ? hub_errp("load_shared %s: out of memory", path) : NULL;
  }
  e->path = abs;
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->size = st.st_size;
  e->mtime = st.st_mtim;
  e->file = f;
  e->users = 1;
  e->next = g_entries;
  g_entries = e;
  pthread_mutex_unlock(&g_lock);
  return f;
}

void hub_shared_retain(hub_st_file *f) {
  if (!f) return;
  pthread_mutex_lock(&g_lock);
  shared_entry *e = find_file(f);
  if (e) e->users++;
  pthread_mutex_unlock(&g_lock);
}

void hub_shared_close(hub_st_file *f) {
  if (!f) return;
  shared_entry *gone = NULL;
  pthread_mutex_lock(&g_lock);
  shared_entry *e = find_file(f);
  if (e && --e->users == 0) {
    unlink_entry(e);
    gone = e;
  }
  pthread_mutex_unlock(&g_lock);
  if (gone) {
    hub_st_close(gone->file);
    free(gone->path);
    free(gone);
  }
}

int hub_shared_count(void) {
  int n = 0;
  pthread_mutex_lock(&g_lock);
  for (shared_entry *e = g_entries; e; e = e->next) n++;
  pthread_mutex_unlock(&g_lock);
  return n;
}
