/* test_repl.c - drives hubrun's REPL through a pseudo-terminal, as a person at a terminal would.
 *
 * forkpty() starts $HUBRUN (set by ctest) on a new pty, so stdin is a terminal and hubrun
 * uses libedit.  The test types lines and waits, with poll() and a 10 second limit per step,
 * for the lines and prompts it expects in what the terminal shows: a value, a multi-line
 * function, an error that leaves the REPL alive, a continued chunk, Ctrl-C at the prompt and
 * while code runs, then Ctrl-D, which must end hubrun with status 0 and save the history in
 * $HUB_HOME/history.  A second session with HOME and HUB_HOME unset must write no file.
 * Output lines arrive with "\r\n" and the terminal echoes what is typed; matching is on
 * whole lines with '\r' removed, so an echoed "5" after the ">> " prompt is not taken for
 * the printed value 5.
 */
#define _DEFAULT_SOURCE

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define STEP_TIMEOUT_MS 10000

struct session {
  pid_t pid;
  int fd;
  char buf[1 << 16];
  size_t len;  /* bytes received */
  size_t seen; /* bytes already matched by an earlier expectation */
  int eof;
};

static const char *hubrun;

static void print_escaped(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') fputs("\\n\n    ", stderr);
    else if (c == '\r') fputs("\\r", stderr);
    else if (c < 32 || c == 127) fprintf(stderr, "\\x%02x", c);
    else fputc(c, stderr);
  }
}

static void fail(struct session *s, const char *what) {
  fprintf(stderr, "FAIL: %s\n  unmatched terminal output:\n    ", what);
  print_escaped(s->buf + s->seen, s->len - s->seen);
  fprintf(stderr, "\n");
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
  }
  exit(1);
}

/* Waits up to `ms` for more output; returns 0 on timeout or end of output. */
static int read_more(struct session *s, long deadline) {
  if (s->eof) return 0;
  long left = deadline - now_ms();
  if (left <= 0) return 0;
  struct pollfd p = {s->fd, POLLIN, 0};
  int k = poll(&p, 1, (int)left);
  if (k < 0 && errno == EINTR) return 1;
  if (k <= 0) return 0;
  if (s->len + 1 >= sizeof s->buf) { /* keep the unmatched tail */
    memmove(s->buf, s->buf + s->seen, s->len - s->seen);
    s->len -= s->seen;
    s->seen = 0;
  }
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
  if (n <= 0) { /* EIO: the child closed the terminal */
    s->eof = 1;
    return 0;
  }
  s->len += (size_t)n;
  s->buf[s->len] = '\0';
  return 1;
}

/* Finds, after `seen`, a complete line satisfying `match`; consumes output through it. */
static int find_line(struct session *s, int (*match)(const char *line, const void *arg), const void *arg) {
  size_t start = s->seen;
  for (size_t i = s->seen; i < s->len; i++) {
    if (s->buf[i] != '\n') continue;
    char line[4096];
    size_t n = 0;
    for (size_t j = start; j < i && n < sizeof line - 1; j++)
      if (s->buf[j] != '\r') line[n++] = s->buf[j];
    line[n] = '\0';
    if (match(line, arg)) {
      s->seen = i + 1;
      return 1;
    }
    start = i + 1;
  }
  return 0;
}

static void expect_matching(struct session *s, int (*match)(const char *, const void *), const void *arg,
                            const char *what) {
  long deadline = now_ms() + STEP_TIMEOUT_MS;
  while (!find_line(s, match, arg))
    if (!read_more(s, deadline)) fail(s, what);
}

static int line_equals(const char *line, const void *arg) { return strcmp(line, arg) == 0; }

static int line_is_error_with(const char *line, const void *arg) {
  return strstr(line, "error: ") != NULL && strstr(line, arg) != NULL;
}

static void expect_line(struct session *s, const char *text) {
  char what[256];
  snprintf(what, sizeof what, "expected a line \"%s\"", text);
  expect_matching(s, line_equals, text, what);
}

/* Waits until the output ends with `prompt` at the start of a line, and consumes it. */
static void expect_prompt(struct session *s, const char *prompt) {
  long deadline = now_ms() + STEP_TIMEOUT_MS;
  size_t k = strlen(prompt);
  for (;;) {
    if (s->len - s->seen >= k && memcmp(s->buf + s->len - k, prompt, k) == 0 &&
        (s->len - k == 0 || s->buf[s->len - k - 1] == '\n')) {
      s->seen = s->len;
      return;
    }
    if (!read_more(s, deadline)) {
      char what[64];
      snprintf(what, sizeof what, "expected the prompt \"%s\"", prompt);
      fail(s, what);
    }
  }
}

/* libedit prints the prompt before it puts the terminal in raw mode; a Ctrl-D typed in between
 * is the cooked-mode end-of-file and is lost in the switch.  On Linux the master side reports
 * the terminal's modes, so wait for raw mode (ICANON off) as a person's reaction time would. */
static void wait_raw(struct session *s) {
  long deadline = now_ms() + STEP_TIMEOUT_MS;
  struct termios t;
  while (tcgetattr(s->fd, &t) == 0 && (t.c_lflag & ICANON)) {
    if (now_ms() > deadline) fail(s, "the terminal never entered raw mode");
    usleep(5000);
  }
}

/* After the line is read libedit restores cooked mode; the code runs soon after. */
static void wait_cooked(struct session *s) {
  long deadline = now_ms() + STEP_TIMEOUT_MS;
  struct termios t;
  while (tcgetattr(s->fd, &t) == 0 && !(t.c_lflag & ICANON)) {
    if (now_ms() > deadline) fail(s, "the terminal never left raw mode");
    usleep(5000);
  }
}

static void type(struct session *s, const char *text) {
  size_t n = strlen(text);
  if (write(s->fd, text, n) != (ssize_t)n) fail(s, "could not write to the terminal");
}

/* Types a line and waits for its echo, so that the next expectation sees only new output. */
static void type_line(struct session *s, const char *text) {
  wait_raw(s);
  type(s, text);
  type(s, "\r");
  expect_line(s, text); /* the echo */
}

static void start(struct session *s, const char *const *env) {
  struct winsize ws = {.ws_row = 24, .ws_col = 100};
  memset(s, 0, sizeof *s);
  s->pid = forkpty(&s->fd, NULL, NULL, &ws);
  if (s->pid < 0) {
    perror("forkpty");
    exit(1);
  }
  if (s->pid == 0) {
    setenv("TERM", "dumb", 1);
    for (int i = 0; env[i]; i++) {
      const char *eq = strchr(env[i], '=');
      if (eq) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
        setenv(name, eq + 1, 1);
      } else {
        unsetenv(env[i]);
      }
    }
    execl(hubrun, hubrun, (char *)NULL);
    perror("execl");
    _exit(127);
  }
}

/* Sends Ctrl-D at an empty prompt and checks that hubrun exits with status 0. */
static void finish(struct session *s) {
  wait_raw(s);
  type(s, "\x04");
  long deadline = now_ms() + STEP_TIMEOUT_MS;
  while (read_more(s, deadline)) {
  }
  int status;
  pid_t r;
  while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && now_ms() < deadline) usleep(20000);
  if (r != s->pid) fail(s, "hubrun did not exit after Ctrl-D");
  s->pid = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "hubrun exit status %d\n", status);
    fail(s, "Ctrl-D must exit with status 0");
  }
  close(s->fd);
}

static int file_contains(const char *path, const char *text) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
  fclose(f);
  return found;
}

static int dir_is_empty(const char *path) {
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n == 0;
}

static struct session s; /* 64 KiB: not on the stack */

int main(void) {
  hubrun = getenv("HUBRUN");
  if (!hubrun || !*hubrun) {
    fprintf(stderr, "test_repl: set HUBRUN to the hubrun executable (ctest does)\n");
    return 1;
  }
  static char resolved[4096]; /* the test changes directory later */
  if (realpath(hubrun, resolved)) hubrun = resolved;
  char home[] = "/tmp/hubrun-test-repl-XXXXXX";
  if (!mkdtemp(home)) {
    perror("mkdtemp");
    return 1;
  }
  char hub_home[600], history[700];
  snprintf(hub_home, sizeof hub_home, "HUB_HOME=%s", home);
  snprintf(history, sizeof history, "%s/history", home);

  start(&s, (const char *const[]){hub_home, NULL});
  expect_prompt(&s, "> ");

  type_line(&s, "1+2");
  expect_line(&s, "3");
  expect_prompt(&s, "> ");

  type_line(&s, "function f(x)");
  expect_prompt(&s, ">> ");
  type_line(&s, "return x*2");
  expect_prompt(&s, ">> ");
  type_line(&s, "end");
  expect_prompt(&s, "> ");
  type_line(&s, "f(21)");
  expect_line(&s, "42");
  expect_prompt(&s, "> ");

  type_line(&s, "error(\"boom\")");
  expect_matching(&s, line_is_error_with, "boom", "expected an error line with boom");
  expect_prompt(&s, "> ");
  if (waitpid(s.pid, NULL, WNOHANG) != 0) fail(&s, "hubrun died after an error");

  type_line(&s, "x = ");
  expect_prompt(&s, ">> ");
  type_line(&s, "5");
  expect_prompt(&s, "> ");
  type_line(&s, "x");
  expect_line(&s, "5");
  expect_prompt(&s, "> ");

  type_line(&s, "1, nil, 'a'");
  expect_line(&s, "1\tnil\ta");
  expect_prompt(&s, "> ");

  /* shapes print as [2, 3]; t[i][j]:item() is a number */
  type_line(&s, "t = hub.tensor{{1, 2, 3}, {4, 5, 6}}");
  expect_prompt(&s, "> ");
  type_line(&s, "t.shape, t:size(), t[2][3]:item()");
  expect_line(&s, "[2, 3]\t[2, 3]\t6");
  expect_prompt(&s, "> ");

  /* Ctrl-C at the prompt drops the typed text; on a continuation it drops the whole chunk. */
  wait_raw(&s);
  type(&s, "abc");
  usleep(100000);
  type(&s, "\x03");
  expect_prompt(&s, "> ");
  type_line(&s, "7*6");
  expect_line(&s, "42");
  expect_prompt(&s, "> ");
  type_line(&s, "y = {");
  expect_prompt(&s, ">> ");
  type(&s, "\x03");
  expect_prompt(&s, "> ");
  type_line(&s, "'fresh'");
  expect_line(&s, "fresh");
  expect_prompt(&s, "> ");

  /* Ctrl-C while code runs raises "interrupted!", also in loops the JIT would compile (JIT
   * traces do not check hooks: the REPL runs typed chunks in the interpreter). */
  type_line(&s, "x = 0 for i = 1, 1e12 do x = x + i end");
  wait_cooked(&s);
  usleep(300000);
  type(&s, "\x03");
  expect_matching(&s, line_is_error_with, "interrupted", "expected 'interrupted' after Ctrl-C in a hot for loop");
  expect_prompt(&s, "> ");
  type_line(&s, "x > 0");
  expect_line(&s, "true");
  expect_prompt(&s, "> ");
  type_line(&s, "function spin() local n = 0 while true do n = n + 1 end end");
  expect_prompt(&s, "> ");
  type_line(&s, "spin()");
  wait_cooked(&s);
  usleep(300000);
  type(&s, "\x03");
  expect_matching(&s, line_is_error_with, "interrupted", "expected 'interrupted' after Ctrl-C in a function's loop");
  expect_prompt(&s, "> ");

  /* Errors are one line: no traceback (hubrun --traceback or HUB_TRACEBACK=1 adds it). */
  type_line(&s, "function deep() error('down here') end deep()");
  expect_matching(&s, line_is_error_with, "down here", "expected an error line with 'down here'");
  expect_prompt(&s, "> ");
  if (strstr(s.buf, "stack traceback") != NULL) fail(&s, "an error printed a traceback without --traceback");

  type_line(&s, "jit.off() while true do end");
  wait_cooked(&s);
  usleep(300000);
  type(&s, "\x03");
  expect_matching(&s, line_is_error_with, "interrupted", "expected 'interrupted' after Ctrl-C");
  expect_prompt(&s, "> ");
  type_line(&s, "'alive'");
  expect_line(&s, "alive");
  expect_prompt(&s, "> ");

  finish(&s);
  if (!file_contains(history, "f(21)")) {
    fprintf(stderr, "FAIL: %s does not hold the typed lines\n", history);
    return 1;
  }

  /* The history survives a process that is killed while code runs (a second Ctrl-C); libedit
   * writes spaces as \040, so the checks look for words. */
  start(&s, (const char *const[]){hub_home, NULL});
  expect_prompt(&s, "> ");
  type_line(&s, "marker_before_kill = 1");
  expect_prompt(&s, "> ");
  type_line(&s, "while true do end");
  wait_cooked(&s);
  usleep(200000);
  kill(s.pid, SIGKILL);
  waitpid(s.pid, NULL, 0);
  s.pid = -1;
  close(s.fd);
  if (!file_contains(history, "marker_before_kill") || !file_contains(history, "while")) {
    fprintf(stderr, "FAIL: %s lost the lines typed before the process was killed\n", history);
    return 1;
  }

  /* Without HOME and HUB_HOME the REPL works and creates no history file anywhere. */
  char empty[700];
  snprintf(empty, sizeof empty, "%s/cwd", home);
  if (mkdir(empty, 0700) != 0 || chdir(empty) != 0) {
    perror(empty);
    return 1;
  }
  start(&s, (const char *const[]){"HOME", "HUB_HOME", NULL});
  expect_prompt(&s, "> ");
  type_line(&s, "10/4");
  expect_line(&s, "2.5");
  expect_prompt(&s, "> ");
  finish(&s);
  if (!dir_is_empty(empty)) {
    fprintf(stderr, "FAIL: the REPL wrote a file in the working directory without HOME\n");
    return 1;
  }

  if (chdir("/") == 0) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    if (system(cmd) != 0) fprintf(stderr, "test_repl: could not remove %s\n", home);
  }
  printf("test_repl: all checks passed\n");
  return 0;
}
