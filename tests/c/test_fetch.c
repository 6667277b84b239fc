/* test_fetch.c - SHA-256, the file helpers, locks and libcurl downloads (runtime/fetch.c).
 *
 *  - SHA-256 of the FIPS 180-4 examples, and of files of many sizes (every padding case around
 *    the 64-byte block) compared with the output of the sha256sum program;
 *  - mkdirs, copy, directory listing, remove_tree, regex; a lock held by a child process makes
 *    a non-waiting lock return -2;
 *  - file:// downloads, resume of a file:// part, a missing file;
 *  - HTTP through tests/tools/http_serve ($HUB_HTTP_SERVE, or tests/http_serve next to $HUBRUN):
 *    a whole file, a connection cut half-way resumed with a Range request (206), a server without
 *    ranges (200 restarts the part), a part longer than the file (416 restarts), 503 retried,
 *    404 failing at once with the URL in the message, a closed port failing fast, a stalled
 *    server, memory downloads, and HUB_OFFLINE refusing the network.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hub.h"
#include "check.h"

static char tmpdir[256];

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  *n = fread(p, 1, (size_t)len, f);
  p[*n] = 0;
  fclose(f);
  return p;
}

static void test_sha256(void) {
  char hex[65];
  hub_sha256_hex("", 0, hex);
  CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "empty: %s", hex);
  hub_sha256_hex("abc", 3, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "abc: %s", hex);
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  hub_sha256_hex(two, strlen(two), hex);
  CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "448 bits: %s", hex);
  char *mil = malloc(1000000);
  memset(mil, 'a', 1000000);
  hub_sha256_hex(mil, 1000000, hex);
  CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "million a: %s", hex);
  free(mil);

  /* Files against sha256sum: sizes around every block boundary and one of several chunks. */
  size_t sizes[] = {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 65535, 65536, 65537, 300001};
  unsigned seed = 12345;
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    unsigned char *buf = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
    char path[512], cmd[600], want[128] = {0};
    snprintf(path, sizeof path, "%s/blob%zu", tmpdir, n);
    write_file(path, buf, n);
    free(buf);
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    CHECK(p && fscanf(p, "%64s", want) == 1, "sha256sum ran for size %zu", n);
    if (p) pclose(p);
    CHECK(hub_sha256_file(path, hex) == 0, "hash file of %zu bytes", n);
    CHECK(!strcmp(hex, want), "size %zu: %s, sha256sum says %s", n, hex, want);
  }
  CHECK(hub_sha256_file("/nonexistent/x", hex) == -1 && strstr(hub_last_error(), "/nonexistent/x"),
        "missing file names the path: %s", hub_last_error());
}

static void test_fs(void) {
  char p[512], q[512];
  snprintf(p, sizeof p, "%s/a/b/c", tmpdir);
  CHECK(hub_fs_mkdirs(p) == 0 && hub_fs_kind(p) == HUB_FS_DIR, "mkdirs");
  CHECK(hub_fs_mkdirs(p) == 0, "mkdirs again");
  snprintf(q, sizeof q, "%s/a/b/c/f.txt", tmpdir);
  write_file(q, "hello", 5);
  CHECK(hub_fs_kind(q) == HUB_FS_FILE && hub_fs_size(q) == 5, "file kind and size");
  snprintf(p, sizeof p, "%s/a/copy.txt", tmpdir);
  CHECK(hub_fs_copy(q, p) == 0 && hub_fs_size(p) == 5, "copy");
  snprintf(p, sizeof p, "%s/a", tmpdir);
  hub_dir *d = hub_dir_open(p);
  int kind, nfile = 0, ndir = 0;
  const char *name;
  while ((name = hub_dir_next(d, &kind)) != NULL) {
    if (kind == HUB_FS_FILE && !strcmp(name, "copy.txt")) nfile++;
    if (kind == HUB_FS_DIR && !strcmp(name, "b")) ndir++;
  }
  hub_dir_close(d);
  CHECK(nfile == 1 && ndir == 1, "listing: %d files, %d dirs", nfile, ndir);
  CHECK(hub_dir_open("/nonexistent/dir") == NULL, "open missing dir fails");
  CHECK(hub_fs_remove_tree(p) == 0 && hub_fs_kind(p) == HUB_FS_NONE, "remove_tree");
  CHECK(hub_fs_remove_tree(p) == 0, "remove missing tree is fine");
  CHECK(hub_fs_size(p) == -1, "size of missing file");
  CHECK(hub_regex_match("^la[a-z]$", "LAC", 1) == 1, "regex icase");
  CHECK(hub_regex_match("^la[a-z]$", "LAC", 0) == 0, "regex case");
  CHECK(hub_regex_match("(", "x", 0) == -1 && strstr(hub_last_error(), "regular expression"), "bad regex");
}

static void test_lock(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/locks/m/.lock", tmpdir);
  int fd = hub_lock_file(path, 1);
  CHECK(fd >= 0, "lock: %s", hub_last_error());
  int pipefd[2];
  if (pipe(pipefd) != 0) exit(1);
  pid_t pid = fork();
  if (pid == 0) { /* the child tries without waiting while the parent holds it */
    int r = hub_lock_file(path, 0);
    char c = r == -2 ? 'B' : 'X';
    if (write(pipefd[1], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  char c = 0;
  if (read(pipefd[0], &c, 1) != 1) c = 0;
  waitpid(pid, NULL, 0);
  CHECK(c == 'B', "second process sees the lock busy (%c)", c);
  hub_unlock_file(fd);
  fd = hub_lock_file(path, 0);
  CHECK(fd >= 0, "lock free again");
  hub_unlock_file(fd);
  close(pipefd[0]);
  close(pipefd[1]);
}

static void test_file_url(void) {
  char src[512], dst[512], url[600], part[600];
  snprintf(src, sizeof src, "%s/src.bin", tmpdir);
  char data[10000];
  for (int i = 0; i < 10000; i++) data[i] = (char)(i * 7);
  write_file(src, data, sizeof data);
  snprintf(url, sizeof url, "file://%s", src);
  snprintf(dst, sizeof dst, "%s/dst.bin", tmpdir);
  CHECK(hub_fetch_file(url, dst, NULL) == 0, "file:// fetch: %s", hub_last_error());
  size_t n;
  char *got = read_all(dst, &n);
  CHECK(got && n == sizeof data && !memcmp(got, data, n), "file:// content");
  free(got);
  /* A part with the first 4000 bytes resumes. */
  unlink(dst);
  snprintf(part, sizeof part, "%s.part", dst);
  write_file(part, data, 4000);
  CHECK(hub_fetch_file(url, dst, NULL) == 0, "file:// resume: %s", hub_last_error());
  CHECK(hub_fetch_last_resumed() == 4000, "resumed 4000 (%lld)", hub_fetch_last_resumed());
  got = read_all(dst, &n);
  CHECK(got && n == sizeof data && !memcmp(got, data, n), "file:// resumed content");
  free(got);
  snprintf(url, sizeof url, "file://%s/missing.bin", tmpdir);
  CHECK(hub_fetch_file(url, dst, NULL) == -1 && strstr(hub_last_error(), url), "missing file: %s",
        hub_last_error());
  size_t len;
  snprintf(url, sizeof url, "file://%s", src);
  char *mem = hub_fetch_memory(url, NULL, &len);
  CHECK(mem && len == sizeof data && !memcmp(mem, data, len), "file:// to memory");
  hub_fetch_free(mem);
}

static pid_t server_pid;
static int server_port;

static void start_server(const char *serve, const char *dir, const char *const *extra) {
  char port_file[512];
  snprintf(port_file, sizeof port_file, "%s/port", tmpdir);
  unlink(port_file);
  const char *argv[32] = {serve, "--dir", dir, "--port", "0", "--port-file", port_file};
  int argc = 7;
  for (int i = 0; extra && extra[i]; i++) argv[argc++] = extra[i];
  argv[argc] = NULL;
  server_pid = fork();
  if (server_pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execv(serve, (char *const *)argv);
    _exit(127);
  }
  server_port = 0;
  for (int i = 0; i < 500 && !server_port; i++) {
    FILE *f = fopen(port_file, "r");
    if (f) {
      if (fscanf(f, "%d", &server_port) != 1) server_port = 0;
      fclose(f);
    }
    if (!server_port) usleep(10000);
  }
  if (!server_port) {
    printf("FAIL: http_serve did not start\n");
    exit(1);
  }
}

static void stop_server(void) {
  kill(server_pid, SIGTERM);
  waitpid(server_pid, NULL, 0);
}

static void test_http(const char *serve) {
  char dir[512], path[600], url[600], dst[600], part[700];
  snprintf(dir, sizeof dir, "%s/www", tmpdir);
  hub_fs_mkdirs(dir);
  static char data[200000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 31 + (i >> 8));
  snprintf(path, sizeof path, "%s/big.bin", dir);
  write_file(path, data, sizeof data);
  snprintf(dst, sizeof dst, "%s/got.bin", tmpdir);
  snprintf(part, sizeof part, "%s.part", dst);
  hub_fetch_opts o = {.connect_timeout = 5, .stall_timeout = 5, .retries = 3, .backoff = 0.05};
  size_t n;
  char *got;

  /* Plain, and cut half-way then resumed. */
  start_server(serve, dir, (const char *const[]){"--cut-after", "50000", NULL});
  snprintf(url, sizeof url, "http://127.0.0.1:%d/big.bin", server_port);
  CHECK(hub_fetch_file(url, dst, &o) == 0, "cut download retried: %s", hub_last_error());
  CHECK(hub_fetch_last_resumed() == 50000, "resumed from 50000 (%lld)", hub_fetch_last_resumed());
  got = read_all(dst, &n);
  CHECK(got && n == sizeof data && !memcmp(got, data, n), "resumed content equal");
  free(got);
  CHECK(hub_fs_kind(part) == HUB_FS_NONE, "no part left");
  /* Without retries the cut is an error that keeps the part, and the next call resumes it. */
  snprintf(path, sizeof path, "%s/big2.bin", dir);
  write_file(path, data, sizeof data);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/big2.bin", server_port);
  unlink(dst);
  hub_fetch_opts once = {.connect_timeout = 5, .stall_timeout = 5};
  CHECK(hub_fetch_file(url, dst, &once) == -1 && strstr(hub_last_error(), "connection closed after 50000 of 200000"),
        "cut reported: %s", hub_last_error());
  CHECK(hub_fs_size(part) == 50000, "part kept (%lld)", (long long)hub_fs_size(part));
  CHECK(hub_fetch_file(url, dst, &once) == 0 && hub_fetch_last_resumed() == 50000, "second call resumes: %s",
        hub_last_error());
  /* A part longer than the file: 416, restart. */
  write_file(part, data, 10);
  snprintf(path, sizeof path, "%s/small.bin", dir);
  write_file(path, "0123456789", 10);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/small.bin", server_port);
  CHECK(hub_fetch_file(url, dst, &o) == 0 && hub_fs_size(dst) == 10 && hub_fetch_last_resumed() == 0,
        "416 restarts: %s", hub_last_error());
  /* 404 at once, naming the URL. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/nope.bin", server_port);
  double t0 = now_s();
  CHECK(hub_fetch_file(url, dst, &o) == -1, "404 fails");
  char want[700];
  snprintf(want, sizeof want, "fetch %s: HTTP 404", url);
  CHECK(strstr(hub_last_error(), want) != NULL, "404 message: %s", hub_last_error());
  CHECK(now_s() - t0 < 1.0, "404 not retried");
  CHECK(hub_fs_kind(part) == HUB_FS_NONE, "no part after 404");
  /* Memory. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/small.bin", server_port);
  char *mem = hub_fetch_memory(url, &o, &n);
  CHECK(mem && n == 10 && !strcmp(mem, "0123456789"), "memory fetch");
  hub_fetch_free(mem);
  /* Offline refuses http but not file://. */
  setenv("HUB_OFFLINE", "1", 1);
  CHECK(hub_fetch_memory(url, &o, &n) == NULL && strstr(hub_last_error(), "offline"), "offline: %s",
        hub_last_error());
  unsetenv("HUB_OFFLINE");
  stop_server();

  /* A server that ignores ranges: the part restarts from 0. */
  start_server(serve, dir, (const char *const[]){"--no-ranges", NULL});
  write_file(part, data, 1234);
  unlink(dst);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/big.bin", server_port);
  CHECK(hub_fetch_file(url, dst, &o) == 0 && hub_fetch_last_resumed() == 0, "200 restarts: %s", hub_last_error());
  got = read_all(dst, &n);
  CHECK(got && n == sizeof data && !memcmp(got, data, n), "restarted content equal");
  free(got);
  stop_server();

  /* 503 twice then fine: retried. */
  start_server(serve, dir, (const char *const[]){"--status", "/small.bin=503x2", NULL});
  snprintf(url, sizeof url, "http://127.0.0.1:%d/small.bin", server_port);
  CHECK(hub_fetch_file(url, dst, &o) == 0, "503 retried: %s", hub_last_error());
  stop_server();
  start_server(serve, dir, (const char *const[]){"--status", "/small.bin=503", NULL});
  snprintf(url, sizeof url, "http://127.0.0.1:%d/small.bin", server_port);
  CHECK(hub_fetch_file(url, dst, &o) == -1 && strstr(hub_last_error(), "HTTP 503") &&
            strstr(hub_last_error(), "after 4 attempts"),
        "503 gives up: %s", hub_last_error());
  stop_server();

  /* A server that stalls. */
  start_server(serve, dir, (const char *const[]){"--delay-ms", "4000", NULL});
  snprintf(url, sizeof url, "http://127.0.0.1:%d/small.bin", server_port);
  hub_fetch_opts stall = {.connect_timeout = 2, .stall_timeout = 1};
  t0 = now_s();
  CHECK(hub_fetch_file(url, dst, &stall) == -1 && strstr(hub_last_error(), "stalled"), "stall: %s",
        hub_last_error());
  CHECK(now_s() - t0 < 3.5, "stall detected in %.1f s", now_s() - t0);
  stop_server();

  /* Nothing listening: fast, clear. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/index.json", server_port);
  t0 = now_s();
  CHECK(hub_fetch_memory(url, &o, &n) == NULL, "closed port fails");
  snprintf(want, sizeof want, "fetch %s: could not connect (Connection refused)", url);
  CHECK(strstr(hub_last_error(), want) != NULL, "closed port message: %s", hub_last_error());
  CHECK(now_s() - t0 < 2.0, "closed port fails fast (%.2f s)", now_s() - t0);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/hub_test_fetch_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("https_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("ALL_PROXY");
  unsetenv("all_proxy");
  unsetenv("HUB_OFFLINE");
  test_sha256();
  test_fs();
  test_lock();
  test_file_url();
  char serve[1024] = {0};
  const char *env = getenv("HUB_HTTP_SERVE");
  const char *hubrun = getenv("HUBRUN");
  if (env) snprintf(serve, sizeof serve, "%s", env);
  else if (hubrun) {
    snprintf(serve, sizeof serve, "%s", hubrun);
    char *slash = strrchr(serve, '/');
    if (slash) snprintf(slash + 1, sizeof serve - (size_t)(slash + 1 - serve), "tests/http_serve");
  }
  if (serve[0] && access(serve, X_OK) == 0) test_http(serve);
  else {
    printf("FAIL: http_serve not found (set HUB_HTTP_SERVE)\n");
    check_failed++;
  }
  hub_fs_remove_tree(tmpdir);
  return check_summary();
}
