-- hub.serving.handlers: what a serving worker does with a batch of requests (docs/serving.md).
--
-- The C server (runtime/serve) has already checked each body (JSON, an object, its text list
-- for the embedding endpoints) and hands a worker the requests of one module and one kind:
--
--   predict    POST /predict/<module>: PaddleHub 1.x's {"text": [...], ...options} -> the
--              module's serving (module.lua's `serving`, else predict on the text list) ->
--              {"status": "0", "msg": "", "results": [...]}
--   embedding  POST /embedding/<module>: {"text": ["a", ["q", "pair"]]} -> module:vectors ->
--              {"status": "0", "msg": "", "results": [[...], ...]}
--   openai     POST /v1/embeddings: {"model": M, "input": "..." | [...]} -> OpenAI's list of
--              {"object": "embedding", "index": i, "embedding": [...]} with usage
--
-- Batching: the requests of a batch are run as one call to the module (their texts joined, in
-- the order given, which the batcher sorted by length) and the results are split back by count.
-- predict joins only requests with the same options; a joined call that fails or answers with
-- the wrong count is run again one request at a time, so one bad request cannot spoil the
-- others' answers; its own error becomes its 400 with the message (and field, when known).
local hub = require "hub"
local cjson = require "cjson"

local M = {}

local KIND_PREDICT, KIND_EMBEDDING, KIND_OPENAI = 0, 1, 2
M.KIND_PREDICT, M.KIND_EMBEDDING, M.KIND_OPENAI = KIND_PREDICT, KIND_EMBEDDING, KIND_OPENAI

local null = cjson.null
local input_keys = { text = true, texts = true, data = true }

-- A failure that names the request's field: error(field_error("text[2]", "..."), 0).
local field_mt = { __tostring = function(e) return e.msg end }
local function field_error(field, fmt, ...)
  error(setmetatable({ field = field, msg = string.format(fmt, ...) }, field_mt), 0)
end

local function clean(msg)
  msg = tostring(msg)
  return (msg:gsub("\nstack traceback:.*$", ""))
end

-- The error body of a kind: PaddleHub's shape for predict/embedding, OpenAI's for openai.
function M.error_body(kind, msg, field)
  msg = clean(msg)
  if kind == KIND_OPENAI then
    return cjson.encode { error = { message = msg, type = "invalid_request_error", param = field or null, code = null } }
  end
  return cjson.encode { status = "-1", msg = msg, results = "", error = { message = msg, field = field or null } }
end

local function err_reply(kind, e, status)
  if type(e) == "table" and getmetatable(e) == field_mt then return { status or 400, M.error_body(kind, e.msg, e.field) } end
  return { status or 400, M.error_body(kind, e) }
end

-- ---- loading ----

-- spec: {name, spec, version, init_args, predict_args} (lua/hub/serving/init.lua writes them)
function M.load(spec)
  local opts = {}
  for k, v in pairs(spec.init_args or {}) do opts[k] = v end
  if spec.version and opts.version == nil then opts.version = spec.version end
  if type(spec.spec) == "string" and spec.spec:find("/", 1, true) then opts.version = nil end
  local mod = hub.module(spec.spec or spec.name, opts)
  return { name = spec.name, mod = mod, predict_args = spec.predict_args or {}, max_batch = spec.max_batch or 32,
           encoder = mod:has("vectors") }
end

-- ---- predict ----

local function inputs_of(req)
  for _, k in ipairs { "text", "texts", "data" } do
    if req[k] ~= nil then return req[k], k end
  end
  return nil, "text"
end

-- Checks one decoded request; returns the request with predict_args under it, its input list,
-- the input key and the options' key (requests with equal keys can be joined).
local function prepare(entry, req)
  if type(req) ~= "table" or req[1] ~= nil then field_error("body", "body: expected a JSON object such as {\"text\": [\"...\"]}") end
  local r = {}
  for k, v in pairs(entry.predict_args) do r[k] = v end
  for k, v in pairs(req) do r[k] = v end
  local inputs, key = inputs_of(r)
  if inputs == nil or inputs == null then
    field_error("text", "text: required (a list of texts, e.g. {\"text\": [\"今天是个好日子\"]})")
  end
  if type(inputs) == "string" then inputs = { inputs } end
  if type(inputs) ~= "table" or (next(inputs) ~= nil and inputs[1] == nil) then
    field_error(key, "%s: expected a list of texts, got %s", key, type(inputs) == "table" and "an object" or type(inputs))
  end
  if not entry.mod:has("serving") then
    for i, v in ipairs(inputs) do
      if type(v) ~= "string" then
        field_error(string.format("%s[%d]", key, i - 1), "%s[%d]: expected a string, got %s", key, i - 1,
          v == null and "null" or type(v))
      end
    end
  end
  local okeys = {}
  for k, v in pairs(r) do
    if not input_keys[k] then okeys[#okeys + 1] = k .. "=" .. (type(v) == "table" and cjson.encode(v) or tostring(v)) end
  end
  table.sort(okeys)
  return r, inputs, key, table.concat(okeys, "&")
end

local function results_body(entry, results)
  if type(results) == "string" then return '{"status":"0","msg":"","results":' .. results .. "}" end
  return '{"status":"0","msg":"","results":' .. entry.mod:json(results) .. "}"
end

local function predict_one(entry, r)
  local ok, res = pcall(entry.mod.serving, entry.mod, r)
  if not ok then return err_reply(KIND_PREDICT, res) end
  local ok2, body = pcall(results_body, entry, res)
  if not ok2 then return { 500, M.error_body(KIND_PREDICT, body) } end
  return { 200, body }
end

local function run_predict(entry, reqs, replies)
  local groups, order = {}, {}
  for i, req in ipairs(reqs) do
    local ok, r, inputs, key, okey = pcall(prepare, entry, req)
    if not ok then
      replies[i] = err_reply(KIND_PREDICT, r)
    else
      local g = groups[okey]
      if not g then g = { members = {} }; groups[okey] = g; order[#order + 1] = g end
      g.members[#g.members + 1] = { i = i, r = r, inputs = inputs, key = key }
    end
  end
  for _, g in ipairs(order) do
    local done = false
    if #g.members > 1 then
      local joined, counts = {}, {}
      for k, v in pairs(g.members[1].r) do if not input_keys[k] then joined[k] = v end end
      local all = {}
      for _, m in ipairs(g.members) do
        counts[#counts + 1] = #m.inputs
        for _, t in ipairs(m.inputs) do all[#all + 1] = t end
      end
      joined.text = all
      local ok, res = pcall(entry.mod.serving, entry.mod, joined)
      if ok and type(res) == "table" and #res == #all then
        local pos = 1
        done = true
        for j, m in ipairs(g.members) do
          local part = {}
          for k = 1, counts[j] do part[k] = res[pos]; pos = pos + 1 end
          local okb, body = pcall(results_body, entry, setmetatable(part, cjson.array_mt))
          replies[m.i] = okb and { 200, body } or { 500, M.error_body(KIND_PREDICT, body) }
        end
      end
    end
    if not done then
      for _, m in ipairs(g.members) do replies[m.i] = predict_one(entry, m.r) end
    end
  end
end

-- ---- embeddings ----

-- The texts of an embedding request: strings, or [text] / [text, pair] lists (pairs as tables).
local function embed_items(kind, req)
  local list = kind == KIND_OPENAI and req.input or (req.text or req.texts or req.input or req.data)
  if type(list) == "string" then list = { list } end
  local items = {}
  for i, v in ipairs(list) do
    if type(v) == "table" then items[i] = v[2] and { v[1], v[2] } or v[1] else items[i] = v end
  end
  return items
end

local function token_count(entry, items)
  local st = entry.mod.state
  local tk = type(st) == "table" and st.tokenizer
  if not tk then return 0 end
  local n = 0
  for _, it in ipairs(items) do
    local ok, e = pcall(function()
      if type(it) == "table" then return tk:encode(it[1], it[2], { max_seq_len = st.max_seq_len, padding = false }) end
      return tk:encode(it, { max_seq_len = st.max_seq_len, padding = false })
    end)
    if ok and e then n = n + e.input_ids:numel() end
  end
  return n
end

local function embed_body(entry, kind, rows, items)
  if kind == KIND_OPENAI then
    local data = {}
    for i, v in ipairs(rows) do data[i] = { object = "embedding", index = i - 1, embedding = v } end
    local n = token_count(entry, items)
    return cjson.encode { object = "list", data = data, model = entry.name, usage = { prompt_tokens = n, total_tokens = n } }
  end
  return '{"status":"0","msg":"","results":' .. cjson.encode(setmetatable(rows, cjson.array_mt)) .. "}"
end

local function vectors(entry, items)
  local v = entry.mod:vectors(items, { batch_size = math.max(1, math.min(#items, entry.max_batch)) })
  return v:totable()
end

local function run_embed(entry, kind, reqs, replies)
  if not entry.encoder then
    for i = 1, #reqs do
      replies[i] = { 400, M.error_body(kind, string.format("module '%s' gives no vectors (it is not an encoder); use POST /predict/%s",
        entry.name, entry.name), kind == KIND_OPENAI and "model" or nil) }
    end
    return
  end
  local lists, all = {}, {}
  for i, req in ipairs(reqs) do
    lists[i] = embed_items(kind, req)
    for _, it in ipairs(lists[i]) do all[#all + 1] = it end
  end
  local ok, rows = pcall(vectors, entry, all)
  if ok and #rows == #all then
    local pos = 1
    for i, items in ipairs(lists) do
      local part = {}
      for k = 1, #items do part[k] = rows[pos]; pos = pos + 1 end
      replies[i] = { 200, embed_body(entry, kind, part, items) }
    end
    return
  end
  for i, items in ipairs(lists) do
    local ok1, r = pcall(vectors, entry, items)
    replies[i] = ok1 and { 200, embed_body(entry, kind, r, items) } or err_reply(kind, r)
  end
end

-- bodies (JSON texts) -> replies {{status, body}, ...} in the same order
function M.run_batch(entry, kind, bodies)
  local reqs, replies, live, idx = {}, {}, {}, {}
  for i, b in ipairs(bodies) do
    local ok, req = pcall(cjson.decode, b)
    if ok then
      live[#live + 1] = req
      idx[#idx + 1] = i
    else
      replies[i] = { 400, M.error_body(kind, "body: invalid JSON: " .. tostring(req), "body") }
    end
  end
  local out = {}
  if kind == KIND_PREDICT then run_predict(entry, live, out) else run_embed(entry, kind, live, out) end
  for j, i in ipairs(idx) do replies[i] = out[j] or { 500, M.error_body(kind, "no answer") } end
  return replies
end

return M
