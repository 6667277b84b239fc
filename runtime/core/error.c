/* error.c - the thread-local error message behind hub_last_error().
 *
 * A failing function formats its message once with hub_err()/hub_errp() and returns -1/NULL;
 * callers pass the failure up without touching the message, so the text the user sees is the
 * one written where the problem was found ("matmul: shapes [2,3] and [4,5] do not match").
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char err_buf[1024];

const char *hub_version(void) { return HUB_VERSION_STRING; }
const char *hub_last_error(void) { return err_buf; }
void hub_clear_error(void) { err_buf[0] = 0; }

static void set_error(const char *fmt, va_list ap) {
  vsnprintf(err_buf, sizeof err_buf, fmt, ap);
}

int hub_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error(fmt, ap);
  va_end(ap);
  return -1;
}

void *hub_errp(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error(fmt, ap);
  va_end(ap);
  return NULL;
}

void hub_release_all(int n, hub_tensor **ts) {
  for (int i = 0; i < n; i++)
    if (ts[i]) hub_tensor_release(ts[i]);
}
