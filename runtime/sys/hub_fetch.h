/* hub_fetch.h - downloads through libcurl: to a file with resume, or to memory.
 *
 * The module store (lua/hub/store.lua, lua/hub/registry.lua) fetches registries' index.json and
 * module files with these two calls.  URLs may be http://, https:// or file://.
 *
 *   hub_fetch_opts o = { .connect_timeout = 10, .stall_timeout = 30, .retries = 3, .progress = 1 };
 *   if (hub_fetch_file("https://example.org/lac/vocab.txt", "/tmp/vocab.txt", &o) != 0)
 *     fprintf(stderr, "%s\n", hub_last_error());
 *     // "fetch https://example.org/lac/vocab.txt: HTTP 404"
 *
 * hub_fetch_file writes into PATH.part and renames it to PATH when the transfer is complete.  A
 * PATH.part left by an interrupted transfer is resumed: the request carries "Range: bytes=N-";
 * a 206 answer is appended, a 200 answer (a server without ranges) restarts the file, and a 416
 * answer (the part is as long as the file, or longer) discards the part and starts again.
 *
 * Transient failures are retried after a pause that doubles each time (backoff, 2*backoff, ...):
 * no connection, a connection that broke or stalled (less than 1 byte/s for stall_timeout
 * seconds), HTTP 408, 429 and 5xx.  Other failures (404, a missing file:// file, a bad URL) fail
 * at once.  Proxies come from the environment as libcurl reads them (http_proxy, https_proxy,
 * no_proxy).  When HUB_OFFLINE is set to anything but "" or "0", http:// and https:// URLs fail
 * at once without touching the network; file:// URLs still work.
 *
 * Errors name the URL and the reason, e.g.
 *   "fetch http://127.0.0.1:1/index.json: could not connect (Connection refused)"
 *   "fetch http://host/x: connection closed after 1000 of 4096 bytes (after 4 attempts)"
 * Nothing is sent but the request itself (no telemetry); the User-Agent is "hubrun/VERSION".
 */
#ifndef HUB_FETCH_H
#define HUB_FETCH_H

#ifndef HUB_CDEF
#include <stddef.h>
#include "hub_base.h" /* HUB_API */
#endif

typedef struct hub_fetch_opts {
  double connect_timeout; /* seconds to establish a connection (0: 10) */
  double stall_timeout;   /* seconds under 1 byte/s before an attempt is abandoned (0: 30) */
  int retries;            /* further attempts after a transient failure (0: none) */
  double backoff;         /* first pause between attempts in seconds, doubled each time (0: 0.5) */
  int progress;           /* nonzero: a progress bar on stderr, drawn only when it is a terminal */
  const char *label;      /* the name on the progress bar (NULL: the last part of the URL) */
} hub_fetch_opts;

/* Downloads `url` into `path` (through PATH.part, resuming it if present).  opts may be NULL for
 * the defaults (no retries, no progress).  0, or -1 + error; on failure PATH.part is kept so
 * that a later call resumes, except after a non-transient HTTP error. */
HUB_API int hub_fetch_file(const char *url, const char *path, const hub_fetch_opts *opts);

/* Downloads `url` into memory: a NUL-terminated buffer (free it with hub_fetch_free) whose
 * length, without the NUL, goes to *len.  NULL + error on failure. */
HUB_API char *hub_fetch_memory(const char *url, const hub_fetch_opts *opts, size_t *len);
HUB_API void hub_fetch_free(char *p);

/* Where the successful attempt of the last hub_fetch_file on this thread started: the bytes
 * it kept from a PATH.part left by an earlier call or attempt (0 when it fetched everything). */
HUB_API long long hub_fetch_last_resumed(void);

#endif
