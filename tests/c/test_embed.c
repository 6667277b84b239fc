/* test_embed.c - the embedding API (hub_runtime.h) from a C program linked with libhub.
 *
 * The test writes, under a temporary directory, a weight file (hub_st_save) and a few toy
 * modules: "toy" (predict only: each text becomes "TEXT:LENGTH:SCORE:BATCH", the score being the
 * sum of the shared weights times the length), "toyserve" (its own serving adapter, which also
 * reports the address of its weights), and broken ones (no entry file, no predict, a predict
 * that raises, one that calls os.exit).  It then checks: runtimes open with their own HUB_HOME; modules load from a
 * directory and answer JSON; every error path returns NULL/-1 with a message (unknown module,
 * invalid JSON, a request without "text", broken modules, script errors with a traceback,
 * os.exit); hub_runtime_dofile passes arguments; two runtimes on two threads predict 100 times
 * each, concurrently, with correct answers; runtimes (and the C side) see the same data
 * pointer for the shared weights, a replaced file is mapped afresh, and the cache empties when
 * the last runtime closes.
 */
#define _DEFAULT_SOURCE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "hub.h"
#include "check.h"

static char root[256], home[300], weights[300];

static void write_text(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
}

/* A module directory: module.json (listing module.lua with its sha256 and size, as the module
 * format requires) and module.lua (none when lua is NULL: the listed entry is then missing). */
static void make_module(const char *name, const char *lua) {
  char dir[512], path[600], json[1024], hex[65] = "0000000000000000000000000000000000000000000000000000000000000000";
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  mkdir(dir, 0755);
  if (lua) {
    write_text(dir, "module.lua", lua);
    snprintf(path, sizeof path, "%s/module.lua", dir);
    if (hub_sha256_file(path, hex) != 0) printf("sha256 %s: %s\n", path, hub_last_error());
  }
  snprintf(json, sizeof json,
           "{\"name\": \"%s\", \"version\": \"0.1.0\", \"type\": \"test\", \"entry\": \"module.lua\",\n"
           " \"files\": {\"module.lua\": {\"sha256\": \"%s\", \"size\": %zu}}}\n",
           name, hex, lua ? strlen(lua) : 0);
  write_text(dir, "module.json", json);
}

/* weights.safetensors: w = [1, 2, 3, 4] * scale (sum 10 * scale). */
static void write_weights(double scale) {
  float v[4] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++) v[i] = (float)(v[i] * scale);
  hub_tensor *w = hub_tensor_from_data(HUB_F32, 1, (int64_t[]){4}, v, HUB_F32);
  const char *names[] = {"w"};
  if (!w || hub_st_save(weights, 1, names, &w, 0, NULL, NULL) != 0) {
    printf("cannot write %s: %s\n", weights, hub_last_error());
    exit(1);
  }
  hub_tensor_release(w);
}

static const char toy_lua[] =
    "local hub = require 'hub'\n"
    "local M = {}\n"
    "function M.load(dir, opts)\n"
    "  local w = hub.load_shared(dir .. '/../weights.safetensors')\n"
    "  return { w = w.w, sum = w.w:sum():item() }\n"
    "end\n"
    "function M.predict(self, texts, opts)\n"
    "  local out = {}\n"
    "  for i, t in ipairs(texts) do\n"
    "    out[i] = string.format('%s:%d:%g:%d', t, #t, #t * self.sum, opts and opts.batch_size or 0)\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "return M\n";

static const char toyserve_lua[] =
    "local hub = require 'hub'\n"
    "local ffi = require 'ffi'\n"
    "return {\n"
    "  load = function(dir) return { w = hub.load_shared(dir .. '/../weights.safetensors').w } end,\n"
    "  predict = function(self, texts) return texts end,\n"
    "  serving = function(self, req)\n"
    "    if req.ptr then return { ptr = tostring(ffi.cast('uintptr_t', ffi.cast('hub_tensor *', self.w))) } end\n"
    "    return { echo = req.say }\n"
    "  end,\n"
    "}\n";

/* The address of the tensor in {"ptr":"123ULL"} -> its data pointer. */
static const void *data_of(const char *json) {
  const char *p = json ? strstr(json, "\"ptr\"") : NULL;
  if (!p || !(p = strchr(p + 5, '"'))) return NULL;
  hub_tensor *t = (hub_tensor *)(uintptr_t)strtoull(p + 1, NULL, 10);
  return t ? t->data : NULL;
}

static hub_runtime *open_rt(void) {
  hub_runtime *rt = hub_runtime_open(&(hub_options){.home = home, .threads = 0});
  if (!rt) printf("hub_runtime_open: %s\n", hub_last_error());
  return rt;
}

/* Runs `code` in the runtime's state and returns its string result (static buffer) or NULL. */
static const char *lua_eval(hub_runtime *rt, const char *code) {
  static char out[512];
  lua_State *L = hub_runtime_lua(rt);
  if (luaL_loadstring(L, code) != 0 || lua_pcall(L, 0, 1, 0) != 0) {
    snprintf(out, sizeof out, "error: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return out;
  }
  const char *s = lua_tostring(L, -1);
  snprintf(out, sizeof out, "%s", s ? s : "(nil)");
  lua_pop(L, 1);
  return out;
}

static void test_runtime(void) {
  hub_runtime *rt = open_rt();
  CHECK(rt != NULL, "open");
  if (!rt) return;
  CHECK(hub_runtime_lua(rt) != NULL && hub_runtime_lua(NULL) == NULL, "hub_runtime_lua");
  const char *h = lua_eval(rt, "return os.getenv('HUB_HOME')");
  CHECK(strcmp(h, home) == 0, "HUB_HOME inside the runtime is opts.home: %s", h);
  CHECK(strcmp(lua_eval(rt, "return require('hub').version"), hub_version()) == 0, "require 'hub' works");
  CHECK(strcmp(lua_eval(rt, "return os.getenv('PATH') ~= nil and 'yes' or 'no'"), "yes") == 0, "other variables pass");

  /* dofile: arguments, errors with a traceback, os.exit */
  char script[512];
  snprintf(script, sizeof script, "%s/script.lua", root);
  write_text(root, "script.lua",
             "local a, b = ...\n"
             "result = table.concat({arg[0] and 'path' or 'nopath', arg[1], arg[2], a, b, tostring(#arg)}, ',')\n"
             "if a == 'fail' then local function inner() error('boom ' .. b) end inner() end\n"
             "if a == 'exit' then os.exit(tonumber(b)) end\n"
             "if a == 'exittrue' then os.exit(true) end\n");
  const char *args[] = {"x", "y"};
  CHECK(hub_runtime_dofile(rt, script, 2, args) == 0, "dofile: %s", hub_last_error());
  CHECK(strcmp(lua_eval(rt, "return result"), "path,x,y,x,y,2") == 0, "arg and ...: %s", lua_eval(rt, "return result"));
  const char *fail[] = {"fail", "now"};
  CHECK(hub_runtime_dofile(rt, script, 2, fail) == -1 && strstr(hub_last_error(), "boom now") &&
            strstr(hub_last_error(), "stack traceback:") && strstr(hub_last_error(), "inner"),
        "script error with traceback: %s", hub_last_error());
  const char *ex0[] = {"exit", "0"}, *ex3[] = {"exit", "3"}, *ext[] = {"exittrue", "-"};
  CHECK(hub_runtime_dofile(rt, script, 2, ex0) == 0, "os.exit(0) returns 0: %s", hub_last_error());
  CHECK(hub_runtime_dofile(rt, script, 2, ext) == 0, "os.exit(true) returns 0: %s", hub_last_error());
  CHECK(hub_runtime_dofile(rt, script, 2, ex3) == -1 && strstr(hub_last_error(), "exited with status 3"),
        "os.exit(3): %s", hub_last_error());
  CHECK(strcmp(lua_eval(rt, "return 'alive'"), "alive") == 0, "the runtime survives os.exit");
  CHECK(hub_runtime_dofile(rt, "/no/such/script.lua", 0, NULL) == -1 && strstr(hub_last_error(), "/no/such/script.lua"),
        "missing script: %s", hub_last_error());
  write_text(root, "syntax.lua", "local = 1\n");
  snprintf(script, sizeof script, "%s/syntax.lua", root);
  CHECK(hub_runtime_dofile(rt, script, 0, NULL) == -1 && strstr(hub_last_error(), "syntax.lua:1"),
        "syntax error: %s", hub_last_error());
  CHECK(hub_runtime_dofile(NULL, script, 0, NULL) == -1 && hub_runtime_dofile(rt, NULL, 0, NULL) == -1, "NULL arguments");

  /* modules */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/toy", root);
  hub_module *m = hub_module_load(rt, dir);
  CHECK(m != NULL, "load the toy module: %s", hub_last_error());
  char *out = m ? hub_module_predict_json(m, "{\"text\": [\"ab\", \"hello\"]}") : NULL;
  CHECK(out && strcmp(out, "[\"ab:2:20:0\",\"hello:5:50:0\"]") == 0, "predict_json: %s", out ? out : hub_last_error());
  hub_free(out);
  out = m ? hub_module_predict_json(m, "{\"texts\": [\"abc\"], \"batch_size\": 8}") : NULL;
  CHECK(out && strcmp(out, "[\"abc:3:30:8\"]") == 0, "texts + batch_size: %s", out ? out : hub_last_error());
  hub_free(out);
  out = m ? hub_module_predict_json(m, "[\"x\"]") : NULL;
  CHECK(out && strcmp(out, "[\"x:1:10:0\"]") == 0, "a bare list: %s", out ? out : hub_last_error());
  hub_free(out);
  out = m ? hub_module_predict_json(m, "{\"text\": [\"ab\"") : NULL;
  CHECK(!out && strstr(hub_last_error(), "invalid JSON") && strstr(hub_last_error(), "toy"), "bad JSON: %s", hub_last_error());
  out = m ? hub_module_predict_json(m, "{\"words\": [\"ab\"]}") : NULL;
  CHECK(!out && strstr(hub_last_error(), "\"text\""), "no text: %s", hub_last_error());
  out = m ? hub_module_predict_json(m, "{\"text\": [1]}") : NULL;
  CHECK(!out && strstr(hub_last_error(), "item 1"), "a number as text: %s", hub_last_error());
  out = m ? hub_module_predict_json(m, "null") : NULL;
  CHECK(!out && strstr(hub_last_error(), "null"), "null request: %s", hub_last_error());
  CHECK(hub_module_predict_json(NULL, "{}") == NULL && hub_module_predict_json(m, NULL) == NULL, "NULL arguments");
  hub_module_release(m);

  snprintf(dir, sizeof dir, "%s/toyserve", root);
  m = hub_module_load(rt, dir);
  out = m ? hub_module_predict_json(m, "{\"say\": \"hi\"}") : NULL;
  CHECK(out && strcmp(out, "{\"echo\":\"hi\"}") == 0, "serving adapter: %s", out ? out : hub_last_error());
  hub_free(out);
  hub_module_release(m);

  hub_clear_error();
  CHECK(hub_module_load(rt, "no_such_module_xyz") == NULL && strstr(hub_last_error(), "no_such_module_xyz"),
        "unknown module: %s", hub_last_error());
  snprintf(dir, sizeof dir, "%s/nowhere", root);
  CHECK(hub_module_load(rt, dir) == NULL && strstr(hub_last_error(), "no module.json"), "not a module: %s", hub_last_error());
  snprintf(dir, sizeof dir, "%s/noentry", root);
  CHECK(hub_module_load(rt, dir) == NULL && strstr(hub_last_error(), "module.lua is missing"), "no entry: %s", hub_last_error());
  snprintf(dir, sizeof dir, "%s/noload", root);
  CHECK(hub_module_load(rt, dir) == NULL && strstr(hub_last_error(), "no load function"), "no load: %s", hub_last_error());
  snprintf(dir, sizeof dir, "%s/nopredict", root);
  m = hub_module_load(rt, dir);
  CHECK(m != NULL, "a module without predict loads: %s", hub_last_error());
  CHECK(m && !hub_module_predict_json(m, "{\"text\": [\"a\"]}") && strstr(hub_last_error(), "no predict function") &&
            strstr(hub_last_error(), "nopredict"),
        "no predict: %s", hub_last_error());
  hub_module_release(m);
  snprintf(dir, sizeof dir, "%s/raises", root);
  m = hub_module_load(rt, dir);
  CHECK(m && !hub_module_predict_json(m, "{\"text\": [\"a\"]}") && strstr(hub_last_error(), "predict exploded"),
        "predict raises: %s", hub_last_error());
  hub_module_release(m);
  snprintf(dir, sizeof dir, "%s/exits", root);
  m = hub_module_load(rt, dir);
  CHECK(m && !hub_module_predict_json(m, "{\"text\": [\"a\"]}") && strstr(hub_last_error(), "os.exit(2)"),
        "os.exit inside a module does not end the program: %s", hub_last_error());
  hub_module_release(m);
  CHECK(strcmp(lua_eval(rt, "return 'still here'"), "still here") == 0, "the runtime survives it");
  CHECK(hub_module_load(NULL, "toy") == NULL && hub_module_load(rt, NULL) == NULL, "NULL arguments");
  hub_module_release(NULL);
  hub_free(NULL);
  hub_runtime_close(rt);
  hub_runtime_close(NULL);
}

/* ---- two runtimes on two threads ---- */

struct worker {
  int id, ok, bad;
  const void *data; /* the toy's weights, as this runtime sees them */
  char err[256];
};

static void *work(void *arg) {
  struct worker *w = arg;
  hub_runtime *rt = open_rt();
  char dir[512];
  snprintf(dir, sizeof dir, "%s/toy", root);
  hub_module *m = rt ? hub_module_load(rt, dir) : NULL;
  snprintf(dir, sizeof dir, "%s/toyserve", root);
  hub_module *s = rt ? hub_module_load(rt, dir) : NULL;
  if (!m || !s) snprintf(w->err, sizeof w->err, "%s", hub_last_error());
  for (int i = 0; m && i < 100; i++) {
    char req[128], want[128];
    snprintf(req, sizeof req, "{\"text\": [\"t%d-%d\", \"x\"]}", w->id, i);
    int n = snprintf(want, sizeof want, "t%d-%d", w->id, i);
    snprintf(want, sizeof want, "[\"t%d-%d:%d:%d:0\",\"x:1:10:0\"]", w->id, i, n, n * 10);
    char *out = hub_module_predict_json(m, req);
    if (out && strcmp(out, want) == 0) w->ok++;
    else {
      w->bad++;
      snprintf(w->err, sizeof w->err, "%s (wanted %s)", out ? out : hub_last_error(), want);
    }
    hub_free(out);
  }
  char *ptr = s ? hub_module_predict_json(s, "{\"ptr\": true}") : NULL;
  w->data = data_of(ptr);
  hub_free(ptr);
  hub_module_release(m);
  hub_module_release(s);
  hub_runtime_close(rt);
  return NULL;
}

static void test_threads(void) {
  /* The C side holds the file too: its tensor must point at the same bytes. */
  hub_st_file *f = hub_shared_open(weights);
  hub_tensor *t = f ? hub_st_get(f, "w", -1) : NULL;
  CHECK(t != NULL, "hub_shared_open from C: %s", hub_last_error());
  struct worker w[2] = {{.id = 1}, {.id = 2}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, work, &w[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 2; i++)
    CHECK(w[i].ok == 100 && w[i].bad == 0, "runtime %d: %d right, %d wrong: %s", i + 1, w[i].ok, w[i].bad, w[i].err);
  CHECK(w[0].data && w[0].data == w[1].data, "both runtimes see one copy of the weights (%p, %p)", w[0].data, w[1].data);
  CHECK(t && w[0].data == t->data, "and so does the C side (%p, %p)", w[0].data, t ? t->data : NULL);
  CHECK(hub_shared_count() == 1, "one file in the cache while C holds it (%d)", hub_shared_count());
  CHECK(hub_shared_open(weights) == f, "the same file object again");
  hub_shared_close(f);
  hub_tensor_release(t);
  hub_shared_close(f);
  CHECK(hub_shared_count() == 0, "the cache is empty when nobody holds the file (%d)", hub_shared_count());
}

/* A file replaced on disk is mapped afresh; runtimes holding the old one keep it. */
static void test_replaced_file(void) {
  hub_runtime *a = open_rt(), *b = NULL;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/toyserve", root);
  hub_module *ma = a ? hub_module_load(a, dir) : NULL;
  char *pa = ma ? hub_module_predict_json(ma, "{\"ptr\": true}") : NULL;
  write_weights(2.0);
  b = open_rt();
  hub_module *mb = b ? hub_module_load(b, dir) : NULL;
  char *pb = mb ? hub_module_predict_json(mb, "{\"ptr\": true}") : NULL;
  const hub_tensor *ta = NULL, *tb = NULL;
  if (pa) ta = (const hub_tensor *)(uintptr_t)strtoull(strchr(strstr(pa, "\"ptr\"") + 5, '"') + 1, NULL, 10);
  if (pb) tb = (const hub_tensor *)(uintptr_t)strtoull(strchr(strstr(pb, "\"ptr\"") + 5, '"') + 1, NULL, 10);
  CHECK(ta && tb && ta->data != tb->data, "a replaced file gets a new mapping");
  CHECK(ta && tb && ((float *)ta->data)[3] == 4.0f && ((float *)tb->data)[3] == 8.0f, "old and new values");
  CHECK(hub_shared_count() == 2, "old and new file both cached while in use (%d)", hub_shared_count());
  snprintf(dir, sizeof dir, "%s/toy", root);
  hub_module *mt = b ? hub_module_load(b, dir) : NULL;
  char *out = mt ? hub_module_predict_json(mt, "{\"text\": [\"ab\"]}") : NULL;
  CHECK(out && strcmp(out, "[\"ab:2:40:0\"]") == 0, "the new weights are used: %s", out ? out : hub_last_error());
  hub_free(out);
  hub_free(pa);
  hub_free(pb);
  hub_module_release(ma);
  hub_module_release(mb);
  hub_module_release(mt);
  hub_runtime_close(a);
  hub_runtime_close(b);
  CHECK(hub_shared_count() == 0, "closing the runtimes empties the cache (%d)", hub_shared_count());
  write_weights(1.0);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/hub_test_embed_XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(home, sizeof home, "%s/home", root);
  snprintf(weights, sizeof weights, "%s/weights.safetensors", root);
  mkdir(home, 0755);
  write_weights(1.0);
  make_module("toy", toy_lua);
  make_module("toyserve", toyserve_lua);
  make_module("noentry", NULL);
  make_module("noload", "return { predict = function() end }\n");
  make_module("nopredict", "return { load = function() return {} end }\n");
  make_module("exits", "return { load = function() return {} end, predict = function() os.exit(2) end }\n");
  make_module("raises", "return { load = function() return {} end, predict = function() error('predict exploded') end }\n");
  int64_t live = hub_tensor_live_count();

  test_runtime();
  test_threads();
  test_replaced_file();

  CHECK(hub_tensor_live_count() == live, "no tensors leak (%lld)", (long long)(hub_tensor_live_count() - live));
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) printf("note: could not remove %s\n", root);
  return check_summary();
}
