-- test_serving.lua: `hubrun serving start|stop` end to end, through curl against real servers
-- on free ports of 127.0.0.1 (-p 0; the port comes from the "listening on" line).
--
-- A toy module (predict echoes each text with the request's options; {"sleep": S} makes it
-- sleep S seconds first) gives every error status: 400 naming the field (bad JSON, not an
-- object, no text, a text that is not a string, OpenAI fields), 404 (unknown module, path,
-- model), 405, 413, 401 with an API key, 503 from a queue of one while the only worker sleeps,
-- 504 past the timeout; a client that hangs up mid-request (499 in the metrics, the server goes
-- on); the metrics' counters moving by the right amounts; SIGTERM while a request is in flight
-- (it is answered, the server exits 0); a module that is not installed (an error, no server).
-- Then lac and all-minilm-l6-v2 (built by make registry; skipped without them unless
-- HUB_REQUIRE_DATA): 32 concurrent clients get exactly hub.module's answers (lac) and vectors
-- within 1e-5 of m:vectors (embeddings, both endpoints).
local hub = require "hub"
local cjson = require "cjson"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, write, q = T.ok, T.write_file, T.q

local HUBRUN = arg[-1]
local has_curl = os.execute("command -v curl >/dev/null 2>&1")
if has_curl ~= 0 and has_curl ~= true then
  T.data_missing("serving tests (curl is not installed)", "HUB_REQUIRE_DATA is set but curl is not installed")
  T.finish()
  return
end
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. q(tmp .. "/toy") .. " " .. q(tmp .. "/home"))
local HOME = tmp .. "/home"

local function sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  return s
end

local function manifest(dir, name)
  local ffi = require "ffi"
  local hex = ffi.new("char[65]")
  assert(hub.C.hub_sha256_file(dir .. "/module.lua", hex) == 0)
  write(dir .. "/module.json", string.format(
    '{"name": "%s", "version": "1.0.0", "type": "test", "summary": "a toy", "entry": "module.lua", "files": {"module.lua": {"sha256": "%s", "size": %d}}}',
    name, ffi.string(hex), tonumber(hub.C.hub_fs_size(dir .. "/module.lua"))))
end

write(tmp .. "/toy/module.lua", [[
local M = {}
function M.load(dir, opts) return {} end
function M.predict(self, texts, opts)
  if opts and opts.sleep then os.execute("sleep " .. tonumber(opts.sleep)) end
  local out = {}
  for i, t in ipairs(texts) do out[i] = { text = t, n = #t } end
  return out
end
return M
]])
manifest(tmp .. "/toy", "toy")

-- Starts a server (arguments after `serving start`); returns its port and pid, or nil and the log.
local n_servers = 0
local function start(args, env)
  n_servers = n_servers + 1
  local log = tmp .. "/server" .. n_servers .. ".log"
  local pid = sh(string.format("HUB_HOME=%s %s %s serving start %s -p 0 >%s 2>&1 & echo $!", q(HOME), env or "", q(HUBRUN), args, q(log)))
  pid = tonumber(pid:match("%d+"))
  for _ = 1, 1200 do
    local text = T.read_file(log) or ""
    local port = text:match("listening on http://[^:]+:(%d+)")
    if port then return tonumber(port), pid, log end
    if sh("kill -0 " .. pid .. " 2>/dev/null && echo alive") == "" then return nil, T.read_file(log) end
    os.execute("sleep 0.1")
  end
  return nil, "did not start in 120 s: " .. (T.read_file(log) or "")
end

-- curl: status, body (and the headers with want_headers)
local function http(port, method, path, body, extra)
  local bodyf = tmp .. "/req.json"
  local args = { "curl -s -o", q(tmp .. "/resp"), "-D", q(tmp .. "/headers"), "-w '%{http_code}'", "-X", method }
  if body then
    write(bodyf, body)
    args[#args + 1] = "-H 'Content-Type: application/json' --data-binary @" .. q(bodyf)
  end
  args[#args + 1] = extra or ""
  args[#args + 1] = q("http://127.0.0.1:" .. port .. path)
  local code = tonumber(sh(table.concat(args, " ")):match("%d+"))
  return code, T.read_file(tmp .. "/resp") or "", T.read_file(tmp .. "/headers") or ""
end

local function decode(s)
  local good, v = pcall(cjson.decode, s)
  return good and v or nil
end

local function metric(port, pattern)
  local _, text = http(port, "GET", "/metrics")
  local v = text:match(pattern:gsub("[%-%.%[%]%(%)%+%*%?%^%$]", "%%%0") .. " ([%d%.e+]+)")
  return tonumber(v) or 0
end

local function wait_for(fn, seconds)
  for _ = 1, (seconds or 10) * 20 do
    if fn() then return true end
    os.execute("sleep 0.05")
  end
  return false
end

local function stop(pid)
  os.execute("kill -TERM " .. pid .. " 2>/dev/null")
  return wait_for(function() return sh("kill -0 " .. pid .. " 2>/dev/null && echo alive") == "" end, 30)
end

-- ---- a module that is not installed: an error, and no server ----
do
  local out = sh(string.format("HUB_HOME=%s %s serving start -m nosuch-module -p 0 2>&1; echo \"rc=$?\"", q(HOME), q(HUBRUN)))
  ok(out:find("module 'nosuch-module' is not installed", 1, true) and out:find("rc=1", 1, true)
    and not out:find("listening", 1, true), "not installed: a clear error before the port opens", out)
  out = sh(string.format("%s serving --help; echo \"rc=$?\"", q(HUBRUN)))
  ok(out:find("--max-batch", 1, true) and out:find("rc=0", 1, true), "serving --help", out)
end

-- ---- the toy server: every status ----
local toy = tmp .. "/toy"
local port, pid, log = start("-m " .. q(toy) .. " --workers 1 --queue 1 --max-batch 1 --max-delay-ms 0 --timeout 2 --max-body 2000")
ok(port ~= nil, "the toy server starts", pid)
if port then
  local code, body = http(port, "POST", "/predict/toy", '{"text": ["ab", "c"], "batch_size": 2}')
  local r = decode(body)
  ok(code == 200 and r and r.status == "0" and r.msg == "" and r.results[1].text == "ab" and r.results[2].n == 1,
    "predict: PaddleHub's answer", code .. " " .. body)

  local function err_case(method, path, req, status, field, what, extra)
    local c, b, h = http(port, method, path, req, extra)
    local v = decode(b)
    local e = v and (v.error or {}) or {}
    local got_field = e.field or e.param
    ok(c == status and v ~= nil and (field == nil or got_field == field), what .. ": " .. status .. " naming " .. tostring(field),
      c .. " " .. b)
    return c, b, h
  end
  err_case("POST", "/predict/toy", '{"text": ["a", 3]}', 400, "text[1]", "a text that is a number")
  err_case("POST", "/predict/toy", '{"text": ', 400, "body", "bad JSON")
  err_case("POST", "/predict/toy", '["a"]', 400, "body", "not an object")
  err_case("POST", "/predict/toy", '{"txet": ["a"]}', 400, "text", "no text")
  err_case("POST", "/predict/toy", '{"text": "' .. string.rep("x", 3000) .. '"}', 413, "body", "body over --max-body")
  err_case("POST", "/predict/nosuch", '{"text": ["a"]}', 404, nil, "unknown module")
  err_case("POST", "/predict/..%2F..%2Fetc", '{"text": ["a"]}', 404, nil, "a path in the module name")
  err_case("GET", "/nowhere", nil, 404, nil, "unknown path")
  local _, _, h = err_case("GET", "/predict/toy", nil, 405, nil, "GET on a POST endpoint")
  ok(h:lower():find("allow: post", 1, true), "405 says Allow: POST", h)
  err_case("POST", "/health", "{}", 405, nil, "POST on a GET endpoint")
  err_case("POST", "/v1/embeddings", '{"input": ["a"]}', 400, "model", "openai: no model")
  err_case("POST", "/v1/embeddings", '{"model": "nosuch", "input": ["a"]}', 404, "model", "openai: unknown model")
  err_case("POST", "/v1/embeddings", '{"model": "toy", "input": [[1, 2]]}', 400, "input[0]", "openai: token ids")
  err_case("POST", "/v1/embeddings", '{"model": "toy", "input": ["a"], "encoding_format": "base64"}', 400, "encoding_format", "openai: base64")
  err_case("POST", "/v1/embeddings", '{"model": "toy", "input": ["a"]}', 400, "model", "openai: not an encoder")
  err_case("POST", "/embedding/toy", '{"text": []}', 400, "text", "embedding: empty list")

  code, body = http(port, "GET", "/health")
  r = decode(body)
  ok(code == 200 and r and r.ready == true and r.modules[1] == "toy", "health", body)
  code, body = http(port, "GET", "/modules")
  r = decode(body)
  ok(code == 200 and r and r.modules[1].name == "toy" and r.modules[1].version == "1.0.0", "modules", body)
  code, body = http(port, "GET", "/")
  ok(code == 200 and body:find("/predict/toy", 1, true), "the page", body:sub(1, 200))

  -- metrics move by the right amounts
  local k200 = 'hub_serve_requests_total{module="toy",endpoint="predict",status="200"}'
  local k400 = 'hub_serve_requests_total{module="toy",endpoint="predict",status="400"}'
  local bcount = 'hub_serve_batch_size_count{module="toy"}'
  local a200, a400, ab = metric(port, k200), metric(port, k400), metric(port, bcount)
  for _ = 1, 3 do http(port, "POST", "/predict/toy", '{"text": ["x"]}') end
  http(port, "POST", "/predict/toy", '{"text": [null]}')
  ok(metric(port, k200) == a200 + 3 and metric(port, k400) == a400 + 1 and metric(port, bcount) == ab + 4,
    "metrics: 3 more 200s, 1 more 400, 4 more batches",
    string.format("%s %s %s -> %s %s %s", a200, a400, ab, metric(port, k200), metric(port, k400), metric(port, bcount)))

  -- 503: the worker sleeps on A, B fills the queue of one, C is refused
  local function bg(name, reqbody, extra)
    write(tmp .. "/" .. name .. ".json", reqbody)
    os.execute(string.format("curl -s %s -o %s -w '%%{http_code}' -H 'Content-Type: application/json' --data-binary @%s http://127.0.0.1:%d/predict/toy >%s 2>/dev/null &",
      extra or "", q(tmp .. "/" .. name .. ".body"), q(tmp .. "/" .. name .. ".json"), port, q(tmp .. "/" .. name .. ".code")))
  end
  local function bg_code(name)
    local s = T.read_file(tmp .. "/" .. name .. ".code") or ""
    return tonumber(s:match("%d+"))
  end
  -- (A sleeps 1 s in the worker; on a slow machine it may be done before C is sent: then the
  -- scene is played again, up to 3 times)
  -- "taken by the worker": the batch counter moved (hub_serve_in_flight counts the metrics
  -- request itself, so it says nothing about whether A even arrived)
  local kbatch = 'hub_serve_batch_size_count{module="toy"}'
  local c3, b3, h3
  for attempt = 1, 3 do
    os.remove(tmp .. "/a.code"); os.remove(tmp .. "/b.code")
    local taken = metric(port, kbatch)
    bg("a", '{"text": ["a"], "sleep": 1}')
    ok(wait_for(function() return metric(port, kbatch) == taken + 1 and metric(port, 'hub_serve_queue_depth{module="toy"}') == 0 end),
      "503 case: A is taken by the worker")
    bg("b", '{"text": ["b"]}')
    ok(wait_for(function() return metric(port, 'hub_serve_queue_depth{module="toy"}') == 1 end), "503 case: B waits in the queue")
    c3, b3, h3 = http(port, "POST", "/predict/toy", '{"text": ["c"]}')
    if c3 == 503 or attempt == 3 then break end
    wait_for(function() return bg_code("a") == 200 and bg_code("b") == 200 end, 10)
  end
  ok(c3 == 503 and h3:lower():find("retry-after: 1", 1, true) and decode(b3), "a full queue: 503 with Retry-After", c3 .. " " .. b3 .. h3)
  ok(wait_for(function() return bg_code("a") == 200 and bg_code("b") == 200 end, 10), "A and B are answered after the 503",
    tostring(bg_code("a")) .. " " .. tostring(bg_code("b")))
  code = http(port, "POST", "/predict/toy", '{"text": ["after"]}')
  ok(code == 200, "the server recovers after the 503")

  -- 504 past the timeout (2 s)
  code, body = http(port, "POST", "/predict/toy", '{"text": ["slow"], "sleep": 3}')
  ok(code == 504 and decode(body), "a request past the timeout: 504", code .. " " .. body)
  os.execute("sleep 1.2")

  -- a client that hangs up mid-request
  local k499 = 'hub_serve_requests_total{module="toy",endpoint="predict",status="499"}'
  local before = metric(port, k499)
  local rc = sh(string.format("curl -s -m 0.4 -o /dev/null -H 'Content-Type: application/json' --data-binary '{\"text\": [\"x\"], \"sleep\": 1}' http://127.0.0.1:%d/predict/toy; echo $?", port))
  ok(tonumber(rc:match("%d+")) == 28, "the client gave up (curl timed out)", rc)
  ok(wait_for(function() return metric(port, k499) == before + 1 end), "a hang-up counts as 499")
  os.execute("sleep 1")
  code = http(port, "POST", "/predict/toy", '{"text": ["still here"]}')
  ok(code == 200, "the server serves on after a hang-up", code)

  -- SIGTERM while a request is in flight: it is answered, the server exits 0
  local taken_d = metric(port, kbatch)
  bg("d", '{"text": ["d"], "sleep": 1}')
  ok(wait_for(function() return metric(port, kbatch) == taken_d + 1 end), "SIGTERM case: a request in flight (taken by the worker)")
  local status = sh(string.format("kill -TERM %d; while kill -0 %d 2>/dev/null; do sleep 0.05; done; echo done", pid, pid))
  -- the server has exited after answering; the background curl may still be writing its result
  ok(status:find("done", 1, true) and wait_for(function() return bg_code("d") == 200 end, 5), "SIGTERM drains: the request in flight is answered", tostring(bg_code("d")))
  local logtext = T.read_file(log) or ""
  ok(logtext:find("stopped", 1, true), "the server logged its stop", logtext)
end

-- exit status of a drained server, and stop through the pid file
do
  local p2, pid2 = start("-m " .. q(toy) .. " --workers 2")
  ok(p2 ~= nil, "a second server starts", pid2)
  if p2 then
    local pidfile = HOME .. "/conf/serving_" .. p2 .. ".json"
    local info = decode(T.read_file(pidfile) or "")
    ok(info and info.pid == pid2 and info.port == p2, "the pid file", T.read_file(pidfile))
    local out = sh(string.format("HUB_HOME=%s %s serving stop -p %d; echo rc=$?", q(HOME), q(HUBRUN), p2))
    ok(out:find("stopped the server", 1, true) and out:find("rc=0", 1, true) and not T.read_file(pidfile),
      "serving stop -p PORT", out)
  end
  -- the exit status itself: a foreground server killed with SIGTERM exits 0
  local out = sh(string.format([[HUB_HOME=%s %s serving start -m %s -p 0 >%s 2>&1 & P=$!
for i in $(seq 200); do grep -q listening %s && break; sleep 0.05; done
kill -TERM $P; wait $P; echo "rc=$?"]], q(HOME), q(HUBRUN), q(toy), q(tmp .. "/s3.log"), q(tmp .. "/s3.log")))
  ok(out:find("rc=0", 1, true), "SIGTERM: exit status 0", out .. (T.read_file(tmp .. "/s3.log") or ""))
end

-- API key
do
  local p3, pid3 = start("-m " .. q(toy), "HUB_API_KEY=sekret")
  if p3 then
    local k200 = 'hub_serve_requests_total{module="toy",endpoint="predict",status="200"}'
    local c1, b1 = http(p3, "POST", "/predict/toy", '{"text": ["a"]}')
    local c2 = http(p3, "POST", "/predict/toy", '{"text": ["a"]}', "-H 'Authorization: Bearer wrong'")
    local c3 = http(p3, "POST", "/predict/toy", '{"text": ["a"]}', "-H 'Authorization: Bearer sekret'")
    local c4 = http(p3, "GET", "/health")
    local c5 = http(p3, "GET", "/metrics")
    ok(c1 == 401 and decode(b1) and c2 == 401 and c3 == 200 and c4 == 200 and c5 == 401,
      "API key: 401 without or with a wrong key, /health open", table.concat({ c1, c2, c3, c4, c5 }, " "))
    local _, mt = http(p3, "GET", "/metrics", nil, "-H 'Authorization: Bearer sekret'")
    ok(mt:find(k200 .. " 1", 1, true), "API key: only the authorised request ran", mt:sub(1, 300))
    stop(pid3)
  else
    ok(false, "the API-key server starts", pid3)
  end
end

-- ---- real modules: batched answers equal hub.module's ----
local here = (arg[0]:match("^(.*)/") or ".") .. "/../.."
local reg = os.getenv("HUB_REGISTRY_DIR")
reg = (reg and reg ~= "" and reg or here .. "/build/registry")
local function built(name)
  local d = reg .. "/" .. name .. "/1.0.0"
  return T.read_file(d .. "/module.json") and d or nil
end
local lac_dir, ml_dir = built("lac"), built("all-minilm-l6-v2")
if not lac_dir or not ml_dir then
  T.data_missing("lac / all-minilm-l6-v2 cases (not built; run make registry)",
    "HUB_REQUIRE_DATA is set but lac or all-minilm-l6-v2 is not built (make registry)")
else
  local p4, pid4 = start("-m " .. q(lac_dir) .. "," .. q(ml_dir) .. " --workers 2 --max-batch 8 --max-delay-ms 20")
  ok(p4 ~= nil, "the lac + all-minilm-l6-v2 server starts", pid4)
  if p4 then
    local texts = {}
    local base = { "百度是一家高科技公司", "今天是个好日子", "2019年国庆节我在上海参加了华为发布会", "我爱北京天安门",
                   "This is a test.", "The quick brown fox jumps over the lazy dog.", "hello", "Serving models over HTTP is easy." }
    for i = 1, 32 do texts[i] = base[(i - 1) % #base + 1] .. (i > 8 and tostring(i) or "") end
    -- 32 concurrent clients per endpoint
    local function flood(path, make)
      local cmds = {}
      for i = 1, 32 do
        write(tmp .. "/f" .. i .. ".json", make(texts[i]))
        cmds[#cmds + 1] = string.format("curl -s -o %s -H 'Content-Type: application/json' --data-binary @%s http://127.0.0.1:%d%s &",
          q(tmp .. "/f" .. i .. ".out"), q(tmp .. "/f" .. i .. ".json"), p4, path)
      end
      os.execute(table.concat(cmds, "\n") .. "\nwait")
      local outs = {}
      for i = 1, 32 do outs[i] = decode(T.read_file(tmp .. "/f" .. i .. ".out") or "") end
      return outs
    end
    local lac = hub.module(lac_dir)
    local outs = flood("/predict/lac", function(t) return cjson.encode { text = { t } } end)
    local same, detail = true, ""
    for i = 1, 32 do
      local want = lac:predict({ texts[i] })[1]
      local got = outs[i] and outs[i].results and outs[i].results[1]
      if not (got and T.same(got.word, want.word) and T.same(got.tag, want.tag)) then
        same = false
        detail = texts[i] .. ": " .. cjson.encode(got or {}) .. " vs " .. cjson.encode(want)
      end
    end
    ok(same, "lac: 32 concurrent clients get hub.module's answers", detail)
    local bsum = metric(p4, 'hub_serve_batch_size_sum{module="lac"}')
    local bcnt = metric(p4, 'hub_serve_batch_size_count{module="lac"}')
    ok(bsum == 32 and bcnt >= 4 and bcnt <= 32, "lac: 32 texts in batches of at most 8", bsum .. " in " .. bcnt)

    local ml = hub.module(ml_dir)
    local want = ml:vectors(texts):totable()
    local function close(v, w)
      if type(v) ~= "table" or #v ~= #w then return false end
      for j = 1, #w do if math.abs(v[j] - w[j]) > 1e-5 then return false end end
      return true
    end
    outs = flood("/v1/embeddings", function(t) return cjson.encode { model = "all-minilm-l6-v2", input = { t } } end)
    local good = true
    for i = 1, 32 do
      local d = outs[i] and outs[i].data and outs[i].data[1]
      if not (d and d.object == "embedding" and d.index == 0 and close(d.embedding, want[i]) and outs[i].object == "list"
              and outs[i].usage.prompt_tokens > 0) then good = false end
    end
    ok(good, "/v1/embeddings: 32 concurrent clients get m:vectors within 1e-5")
    outs = flood("/embedding/all-minilm-l6-v2", function(t) return cjson.encode { text = { t } } end)
    good = true
    for i = 1, 32 do
      if not (outs[i] and outs[i].status == "0" and close(outs[i].results[1], want[i])) then good = false end
    end
    ok(good, "/embedding: 32 concurrent clients get m:vectors within 1e-5")
    local code, body = http(p4, "POST", "/v1/embeddings", cjson.encode { model = "all-minilm-l6-v2", input = { texts[1], texts[5] } })
    local r = decode(body)
    ok(code == 200 and r and #r.data == 2 and close(r.data[2].embedding, want[5]) and r.data[2].index == 1,
      "/v1/embeddings with two inputs", body:sub(1, 200))
    code, body = http(p4, "POST", "/embedding/lac", '{"text": ["a"]}')
    ok(code == 400 and body:find("not an encoder", 1, true), "/embedding of lac: 400", body)
    -- GET /?run=1 in headless Chromium: the page posts each form's sample text from the browser
    -- and shows the answers (Debian's chromium; skipped when it is not installed)
    local chromium = sh("command -v chromium 2>/dev/null"):match("%S+")
    if not chromium then
      print("skipped: the web page in a browser (chromium is not installed)")
    else
      local dom = sh(string.format("timeout 90 %s --headless --no-sandbox --disable-gpu --disable-dev-shm-usage " ..
        "--user-data-dir=%s --virtual-time-budget=20000 --dump-dom 'http://127.0.0.1:%d/?run=1' 2>/dev/null",
        q(chromium), q(tmp .. "/chromium"), p4))
      local function pre(id) return (dom:match('<pre id="out%-' .. id .. '">(.-)</pre>') or ""):gsub("&quot;", '"') end
      local lac_out, ml_out = pre("lac"), pre("all%-minilm%-l6%-v2")
      -- lac segments the sample text 百度是一家高科技公司 into words, 百度 tagged ORG
      ok(lac_out:match("^200") and lac_out:find('"百度"', 1, true) and lac_out:find('"ORG"', 1, true),
        "the web page in Chromium: lac's form answers from the browser", lac_out:sub(1, 300))
      ok(ml_out:match("^200") and ml_out:find('"status": "0"', 1, true),
        "the web page in Chromium: all-minilm-l6-v2's form answers", ml_out:sub(1, 200))
    end
    ok(stop(pid4), "the lac server stops")
  end
end

os.execute("rm -rf " .. q(tmp))
T.finish()
