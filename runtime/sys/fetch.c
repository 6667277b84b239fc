/* fetch.c - libcurl downloads with resume, retries, timeouts and a terminal progress bar.
 *
 * One transfer is a loop of attempts on one easy handle.  Before each attempt of a file
 * download the length N of PATH.part is the resume point: the request asks "Range: bytes=N-"
 * (CURLOPT_RANGE, which works for http(s) and file://; CURLOPT_RESUME_FROM would make libcurl
 * refuse a 200 answer instead of letting us restart).  The write callback looks at the response
 * code when the first body bytes arrive: 2xx bodies are written (a 200 to a range request first
 * truncates the part), error pages are swallowed.  After the attempt the result is classified:
 * done, restart without a range (416), transient (retry after a doubling pause), or final.
 *
 * Timeouts: CURLOPT_CONNECTTIMEOUT for the connection and LOW_SPEED_LIMIT/TIME (1 byte/s for
 * stall_timeout seconds) for a transfer that stops moving; there is no total limit, so a large
 * file on a slow link still finishes.  Proxies: libcurl's defaults (environment variables).
 */
#define _GNU_SOURCE

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub_fetch.h"
#include "internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static _Thread_local long long last_resumed;

long long hub_fetch_last_resumed(void) { return last_resumed; }

typedef struct xfer {
  CURL *curl;
  int fd;                  /* file destination, or -1 for memory */
  char *mem;               /* memory destination */
  size_t len, cap;
  long long offset;        /* bytes of the part file this attempt continues from */
  long long written;       /* body bytes stored by this attempt */
  int checked;             /* response code examined (at the first body bytes) */
  long code;
  int discard;             /* error page: not stored */
  int write_errno;         /* set when storing failed */
  int progress;            /* draw a bar */
  int drawn;               /* a bar line is on the screen */
  const char *label;
  double t0, last_draw;
} xfer;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = size * n;
  if (!x->checked) {
    x->checked = 1;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->code);
    if (x->code >= 300) {
      x->discard = 1;
    } else if (x->fd >= 0 && x->offset > 0 && x->code == 200) {
      /* The server ignored the range and sends the whole file: start the part again. */
      if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
        x->write_errno = errno;
        return 0;
      }
      x->offset = 0;
    }
  }
  if (x->discard) return len;
  if (x->fd >= 0) {
    for (size_t off = 0; off < len;) {
      ssize_t w = write(x->fd, p + off, len - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        x->write_errno = errno;
        return 0;
      }
      off += (size_t)w;
    }
  } else {
    if (x->len + len + 1 > x->cap) {
      size_t cap = x->cap ? x->cap : 65536;
      while (cap < x->len + len + 1) cap *= 2;
      char *m = realloc(x->mem, cap);
      if (!m) {
        x->write_errno = ENOMEM;
        return 0;
      }
      x->mem = m;
      x->cap = cap;
    }
    memcpy(x->mem + x->len, p, len);
    x->len += len;
  }
  x->written += (long long)len;
  return len;
}

static void human(char *out, size_t n, double bytes) {
  if (bytes < 1024) snprintf(out, n, "%.0f B", bytes);
  else if (bytes < 1024 * 1024) snprintf(out, n, "%.1f KiB", bytes / 1024);
  else if (bytes < 1024.0 * 1024 * 1024) snprintf(out, n, "%.1f MiB", bytes / (1024 * 1024));
  else snprintf(out, n, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
}

static void draw(xfer *x, double total, double now, int final) {
  double t = now_s();
  /* Quick transfers draw nothing; a slow one shows a bar after half a second. */
  if (!final && (t - x->t0 < 0.5 || t - x->last_draw < 0.1)) return;
  x->last_draw = t;
  char a[32], b[32], r[32];
  human(a, sizeof a, now);
  human(b, sizeof b, total);
  double el = t - x->t0;
  human(r, sizeof r, el > 0 ? (now - (double)x->offset) / el : 0);
  char bar[21];
  int pct = total > 0 ? (int)(100.0 * now / total) : 0;
  if (pct > 100) pct = 100;
  for (int i = 0; i < 20; i++) bar[i] = i < pct / 5 ? '#' : ' ';
  bar[20] = '\0';
  if (total > 0)
    fprintf(stderr, "\r%-28.28s %3d%% [%s] %s / %s  %s/s   ", x->label, pct, bar, a, b, r);
  else
    fprintf(stderr, "\r%-28.28s %s  %s/s   ", x->label, a, r);
  fflush(stderr);
  x->drawn = 1;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  (void)ultotal;
  (void)ulnow;
  xfer *x = ud;
  if (x->discard || (dltotal == 0 && dlnow == 0)) return 0;
  draw(x, dltotal > 0 ? (double)(x->offset + dltotal) : 0, (double)(x->offset + dlnow), 0);
  return 0;
}

static const char *reason_phrase(long code) {
  switch (code) {
    case 400: return " Bad Request";
    case 401: return " Unauthorized";
    case 403: return " Forbidden";
    case 404: return " Not Found";
    case 408: return " Request Timeout";
    case 410: return " Gone";
    case 416: return " Range Not Satisfiable";
    case 429: return " Too Many Requests";
    case 500: return " Internal Server Error";
    case 502: return " Bad Gateway";
    case 503: return " Service Unavailable";
    case 504: return " Gateway Timeout";
    default: return "";
  }
}

static int is_transient(CURLcode rc, long code, long os_errno, int *limited) {
  *limited = 0;
  switch (rc) {
    case CURLE_OK: return code == 408 || code == 429 || code >= 500;
    case CURLE_COULDNT_CONNECT:
      /* Nothing listens there: one more try covers a server that is restarting. */
      *limited = os_errno == ECONNREFUSED;
      return 1;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return 1;
    default: return 0;
  }
}

/* The reason of a failed attempt, in words. */
static void describe(char *out, size_t n, xfer *x, CURLcode rc, const char *errbuf, const hub_fetch_opts *o,
                     double connect_timeout, double stall_timeout) {
  long os_errno = 0;
  curl_easy_getinfo(x->curl, CURLINFO_OS_ERRNO, &os_errno);
  const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK: snprintf(out, n, "HTTP %ld%s", x->code, reason_phrase(x->code)); break;
    case CURLE_COULDNT_CONNECT:
      snprintf(out, n, "could not connect (%s)", os_errno ? strerror((int)os_errno) : detail);
      break;
    case CURLE_COULDNT_RESOLVE_HOST: snprintf(out, n, "could not resolve host (%s)", detail); break;
    case CURLE_COULDNT_RESOLVE_PROXY: snprintf(out, n, "could not resolve proxy (%s)", detail); break;
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connected = 0;
      curl_easy_getinfo(x->curl, CURLINFO_CONNECT_TIME_T, &connected);
      if (connected == 0 && x->written == 0)
        snprintf(out, n, "could not connect (timed out after %g s)", connect_timeout);
      else
        snprintf(out, n, "stalled (less than 1 byte/s for %g s)", stall_timeout);
      break;
    }
    case CURLE_PARTIAL_FILE: {
      curl_off_t cl = -1;
      curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (cl >= 0)
        snprintf(out, n, "connection closed after %lld of %lld bytes", x->offset + x->written,
                 x->offset + (long long)cl);
      else
        snprintf(out, n, "connection closed early (%s)", detail);
      break;
    }
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING: snprintf(out, n, "connection broken (%s)", detail); break;
    case CURLE_FILE_COULDNT_READ_FILE: snprintf(out, n, "cannot read the file (%s)", detail); break;
    case CURLE_UNSUPPORTED_PROTOCOL:
      snprintf(out, n, "unsupported protocol (hubrun fetches http://, https:// and file:// URLs)");
      break;
    case CURLE_URL_MALFORMAT: snprintf(out, n, "malformed URL"); break;
    case CURLE_WRITE_ERROR:
      snprintf(out, n, "cannot store the data (%s)", strerror(x->write_errno ? x->write_errno : EIO));
      break;
    case CURLE_PEER_FAILED_VERIFICATION: snprintf(out, n, "TLS certificate not trusted (%s)", detail); break;
    default: snprintf(out, n, "%s (%s)", curl_easy_strerror(rc), detail); break;
  }
  (void)o;
}

static int offline(void) {
  const char *v = getenv("HUB_OFFLINE");
  return v && v[0] && strcmp(v, "0") != 0;
}

static int is_network_url(const char *url) {
  return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static const char *url_label(const char *url) {
  size_t n = strlen(url);
  while (n > 0 && url[n - 1] == '/') n--;
  const char *p = url + n;
  while (p > url && p[-1] != '/') p--;
  return p;
}

static void set_options(xfer *x, const char *url, char *errbuf, double connect_timeout, double stall_timeout,
                        char *range) {
  CURL *c = x->curl;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "hubrun/" HUB_VERSION_STRING);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(stall_timeout < 1 ? 1 : stall_timeout));
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (range) curl_easy_setopt(c, CURLOPT_RANGE, range);
  if (x->progress) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
  }
}

/* Shared by both entry points: fd >= 0 downloads into that descriptor (a part file), fd < 0 into
 * x->mem.  Returns 0 or -1 + error; *final_http tells whether the failure was an HTTP error. */
static int transfer(xfer *x, const char *url, const hub_fetch_opts *o, int *final_http) {
  double connect_timeout = o && o->connect_timeout > 0 ? o->connect_timeout : 10;
  double stall_timeout = o && o->stall_timeout > 0 ? o->stall_timeout : 30;
  int retries = o && o->retries > 0 ? o->retries : 0;
  double pause = o && o->backoff > 0 ? o->backoff : 0.5;
  x->progress = o && o->progress && isatty(2);
  x->label = o && o->label ? o->label : url_label(url);
  *final_http = 0;

  char errbuf[CURL_ERROR_SIZE];
  char range[32];
  int attempts = 0, restarted = 0;
  for (;;) {
    attempts++;
    errbuf[0] = '\0';
    x->checked = 0;
    x->discard = 0;
    x->code = 0;
    x->written = 0;
    x->write_errno = 0;
    x->len = 0;
    x->offset = 0;
    if (x->fd >= 0) {
      off_t end = lseek(x->fd, 0, SEEK_END);
      if (end < 0) return hub_err("fetch %s: %s", url, strerror(errno));
      x->offset = end;
    }
    snprintf(range, sizeof range, "%lld-", x->offset);
    set_options(x, url, errbuf, connect_timeout, stall_timeout, x->offset > 0 ? range : NULL);
    x->t0 = now_s();
    x->last_draw = 0;
    CURLcode rc = curl_easy_perform(x->curl);
    if (!x->checked) curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->code);
    if (x->drawn) {
      if (rc == CURLE_OK && x->code < 300) draw(x, (double)(x->offset + x->written), (double)(x->offset + x->written), 1);
      fputc('\n', stderr);
      x->drawn = 0;
    }
    if (rc == CURLE_OK && x->code < 300) {
      last_resumed = x->offset;
      return 0;
    }
    /* The part is complete or longer than the file (it changed on the server): start again. */
    int bad_range = (rc == CURLE_OK && x->code == 416) || rc == CURLE_BAD_DOWNLOAD_RESUME ||
                    (rc == CURLE_FILE_COULDNT_READ_FILE && x->offset > 0);
    if (bad_range && x->fd >= 0 && x->offset > 0 && !restarted) {
      restarted = 1;
      attempts--;
      if (ftruncate(x->fd, 0) != 0) return hub_err("fetch %s: %s", url, strerror(errno));
      continue;
    }
    long os_errno = 0;
    curl_easy_getinfo(x->curl, CURLINFO_OS_ERRNO, &os_errno);
    int limited;
    int transient = is_transient(rc, x->code, os_errno, &limited);
    int allowed = limited ? (retries < 1 ? retries : 1) : retries;
    if (!transient || attempts > allowed) {
      char why[512];
      describe(why, sizeof why, x, rc, errbuf, o, connect_timeout, stall_timeout);
      *final_http = rc == CURLE_OK && !transient;
      if (attempts > 1)
        return hub_err("fetch %s: %s (after %d attempts)", url, why, attempts);
      return hub_err("fetch %s: %s", url, why);
    }
    struct timespec ts = {(time_t)pause, (long)((pause - (double)(time_t)pause) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    pause *= 2;
  }
}

static int prepare(const char *url) {
  if (!url || !url[0]) return hub_err("fetch: empty URL");
  if (offline() && is_network_url(url))
    return hub_err("fetch %s: offline (HUB_OFFLINE is set), not using the network", url);
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK) return hub_err("fetch %s: libcurl: %s", url, curl_easy_strerror(curl_init_rc));
  return 0;
}

int hub_fetch_file(const char *url, const char *path, const hub_fetch_opts *opts) {
  last_resumed = 0;
  if (prepare(url) != 0) return -1;
  if (!path || !path[0]) return hub_err("fetch %s: empty destination path", url);
  size_t n = strlen(path);
  char *part = malloc(n + 6);
  if (!part) return hub_err("fetch %s: out of memory", url);
  snprintf(part, n + 6, "%s.part", path);
  xfer x = {0};
  x.fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (x.fd < 0) {
    hub_err("fetch %s: cannot write %s (%s)", url, part, strerror(errno));
    free(part);
    return -1;
  }
  x.curl = curl_easy_init();
  int rc, final_http = 0;
  if (!x.curl) rc = hub_err("fetch %s: libcurl could not start a transfer", url);
  else rc = transfer(&x, url, opts, &final_http);
  if (x.curl) curl_easy_cleanup(x.curl);
  struct stat st;
  int empty = fstat(x.fd, &st) == 0 && st.st_size == 0;
  if (close(x.fd) != 0 && rc == 0) rc = hub_err("fetch %s: cannot write %s (%s)", url, part, strerror(errno));
  if (rc == 0 && rename(part, path) != 0) rc = hub_err("fetch %s: cannot rename %s (%s)", url, part, strerror(errno));
  /* Keep a part worth resuming; an HTTP error means the file is not there (any more). */
  if (rc != 0 && (empty || final_http)) unlink(part);
  free(part);
  return rc;
}

char *hub_fetch_memory(const char *url, const hub_fetch_opts *opts, size_t *len) {
  if (len) *len = 0;
  if (prepare(url) != 0) return NULL;
  xfer x = {0};
  x.fd = -1;
  x.curl = curl_easy_init();
  if (!x.curl) return hub_errp("fetch %s: libcurl could not start a transfer", url);
  int final_http;
  int rc = transfer(&x, url, opts, &final_http);
  curl_easy_cleanup(x.curl);
  if (rc != 0) {
    free(x.mem);
    return NULL;
  }
  if (!x.mem) {
    x.mem = malloc(1);
    if (!x.mem) return hub_errp("fetch %s: out of memory", url);
  }
  x.mem[x.len] = '\0';
  if (len) *len = x.len;
  return x.mem;
}

void hub_fetch_free(char *p) { free(p); }
