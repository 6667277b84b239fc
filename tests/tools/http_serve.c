/* http_serve.c - a small HTTP file server on 127.0.0.1 for the module store's tests.
 *
 *   http_serve --dir DIR [--port N] [--port-file FILE] [--log FILE] [--cut-after BYTES]
 *              [--status PATH=CODE[xCOUNT]]... [--delay-ms MS] [--no-ranges]
 *
 * Serves the files under DIR for GET and HEAD with libmicrohttpd (a thread per connection),
 * honours "Range: bytes=S-" and "bytes=S-E" with 206 (416 beyond the end), and prints the port
 * it listens on (port 0, the default, lets the system pick) on stdout and into --port-file.  It
 * runs until SIGTERM or SIGINT.  Test switches:
 *   --cut-after N     the first response for each path sends N body bytes and then closes the
 *                     connection although it announced the whole length (an interrupted download)
 *   --status P=C[xK]  answer requests for path P with status C (the first K times, or always)
 *   --delay-ms MS     wait MS milliseconds before answering each request (a stalled server)
 *   --no-ranges       ignore Range headers and always send the whole file with 200
 *   --log FILE        append "METHOD PATH RANGE" per request (RANGE is "-" without one)
 * Not a test itself: tests/lua/test_store_cli.lua and tests/c/test_fetch.c start and stop it.
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RULES 32
#define MAX_CUT 256

static const char *root = ".";
static long long cut_after = -1;
static long delay_ms = 0;
static int no_ranges = 0;
static FILE *log_file;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
  char path[512];
  unsigned code;
  long remaining; /* -1: always */
} rules[MAX_RULES];
static int nrules;

static char *cut_done[MAX_CUT]; /* paths whose first response was already cut */
static int ncut;

/* Whether this response for `path` is to be cut (only the first one per path). */
static int take_cut(const char *path) {
  if (cut_after < 0) return 0;
  pthread_mutex_lock(&lock);
  int found = 0;
  for (int i = 0; i < ncut; i++)
    if (!strcmp(cut_done[i], path)) found = 1;
  if (!found && ncut < MAX_CUT) cut_done[ncut++] = strdup(path);
  pthread_mutex_unlock(&lock);
  return !found;
}

/* The status a rule imposes on `path`, or 0. */
static unsigned rule_status(const char *path) {
  unsigned code = 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < nrules && !code; i++) {
    if (strcmp(rules[i].path, path) != 0 || rules[i].remaining == 0) continue;
    code = rules[i].code;
    if (rules[i].remaining > 0) rules[i].remaining--;
  }
  pthread_mutex_unlock(&lock);
  return code;
}

typedef struct {
  int fd;
  long long start, len, limit; /* limit: bytes to send before failing (-1: all) */
} body;

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max) {
  body *b = cls;
  if (b->limit >= 0 && (long long)pos >= b->limit) return MHD_CONTENT_READER_END_WITH_ERROR;
  long long left = b->len - (long long)pos;
  if (b->limit >= 0 && b->limit - (long long)pos < left) left = b->limit - (long long)pos;
  if (left <= 0) return MHD_CONTENT_READER_END_OF_STREAM;
  if ((long long)max > left) max = (size_t)left;
  ssize_t r = pread(b->fd, buf, max, (off_t)(b->start + (long long)pos));
  return r > 0 ? r : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_body(void *cls) {
  body *b = cls;
  close(b->fd);
  free(b);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *text) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "text/plain");
  enum MHD_Result rc = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
  (void)cls;
  (void)version;
  (void)upload;
  static int marker;
  if (*state == NULL) { /* headers only so far */
    *state = &marker;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
  if (log_file) {
    pthread_mutex_lock(&lock);
    fprintf(log_file, "%s %s %s\n", method, url, range ? range : "-");
    fflush(log_file);
    pthread_mutex_unlock(&lock);
  }
  if (delay_ms > 0) usleep((useconds_t)delay_ms * 1000);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return send_text(c, 405, "method not allowed\n");
  unsigned forced = rule_status(url);
  if (forced) {
    char msg[64];
    snprintf(msg, sizeof msg, "status %u\n", forced);
    return send_text(c, forced, msg);
  }
  if (url[0] != '/' || strstr(url, "/../") || (strlen(url) >= 3 && !strcmp(url + strlen(url) - 3, "/..")))
    return send_text(c, 400, "bad path\n");
  char path[4096];
  snprintf(path, sizeof path, "%s%s", root, url);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    return send_text(c, 404, "not found\n");
  }
  long long size = st.st_size, start = 0, end = size - 1;
  unsigned code = 200;
  if (range && !no_ranges) {
    long long s = -1, e = -1;
    if (sscanf(range, "bytes=%lld-%lld", &s, &e) < 1 || s < 0) {
      close(fd);
      return send_text(c, 400, "bad range\n");
    }
    if (s >= size) {
      close(fd);
      struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
      char cr[64];
      snprintf(cr, sizeof cr, "bytes */%lld", size);
      MHD_add_response_header(r, "Content-Range", cr);
      enum MHD_Result rc = MHD_queue_response(c, 416, r);
      MHD_destroy_response(r);
      return rc;
    }
    start = s;
    if (e >= s && e < size) end = e;
    code = 206;
  }
  long long len = end - start + 1;
  if (len < 0) len = 0;
  body *b = malloc(sizeof *b);
  if (!b) {
    close(fd);
    return send_text(c, 500, "out of memory\n");
  }
  *b = (body){fd, start, len, take_cut(url) ? cut_after : -1};
  struct MHD_Response *r = MHD_create_response_from_callback((uint64_t)len, 65536, read_body, b, free_body);
  if (!r) {
    free_body(b);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Accept-Ranges", no_ranges ? "none" : "bytes");
  size_t ulen = strlen(url);
  MHD_add_response_header(r, "Content-Type",
                          ulen > 5 && !strcmp(url + ulen - 5, ".json") ? "application/json" : "application/octet-stream");
  if (code == 206) {
    char cr[96];
    snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", start, end, size);
    MHD_add_response_header(r, "Content-Range", cr);
  }
  enum MHD_Result rc = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return rc;
}

static void usage(void) {
  fprintf(stderr,
          "usage: http_serve --dir DIR [--port N] [--port-file FILE] [--log FILE] [--cut-after BYTES]\n"
          "                  [--status PATH=CODE[xCOUNT]]... [--delay-ms MS] [--no-ranges]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int port = 0;
  const char *port_file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-ranges")) {
      no_ranges = 1;
      continue;
    }
    if (!v) usage();
    i++;
    if (!strcmp(a, "--dir")) root = v;
    else if (!strcmp(a, "--port")) port = atoi(v);
    else if (!strcmp(a, "--port-file")) port_file = v;
    else if (!strcmp(a, "--cut-after")) cut_after = atoll(v);
    else if (!strcmp(a, "--delay-ms")) delay_ms = atol(v);
    else if (!strcmp(a, "--log")) {
      log_file = fopen(v, "a");
      if (!log_file) {
        perror(v);
        return 1;
      }
    } else if (!strcmp(a, "--status")) {
      const char *eq = strrchr(v, '=');
      if (!eq || nrules == MAX_RULES || (size_t)(eq - v) >= sizeof rules[0].path) usage();
      memcpy(rules[nrules].path, v, (size_t)(eq - v));
      rules[nrules].path[eq - v] = '\0';
      rules[nrules].code = (unsigned)atoi(eq + 1);
      const char *x = strchr(eq, 'x');
      rules[nrules].remaining = x ? atol(x + 1) : -1;
      nrules++;
    } else usage();
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* the server threads inherit the mask */
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                          NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "http_serve: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  int bound = info ? info->port : port;
  printf("%d\n", bound);
  fflush(stdout);
  if (port_file) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "%d\n", bound);
      fclose(f);
      rename(tmp, port_file);
    }
  }
  int sig;
  sigwait(&sigs, &sig);
  MHD_stop_daemon(d);
  for (int i = 0; i < ncut; i++) free(cut_done[i]);
  if (log_file) fclose(log_file);
  return 0;
}
