-- hub.serving.worker: the Lua file each serving worker thread runs in its own runtime.
--
-- runtime/serve/batcher.c opens a hub_runtime per worker thread and runs this file with arg[1]
-- = the JSON that lua/hub/serving/init.lua wrote: {"modules": [{name, spec, version, init_args,
-- predict_args, max_batch}, ...]}.  It loads every module (their weights through hub.load_shared,
-- so the process holds one copy whatever the number of workers), tells the server it is ready
-- (or why it failed), then takes batches until the server stops:
--
--   hub_serve_next -> the bodies -> hub.serving.handlers.run_batch -> a reply for each -> done
--
-- Nothing here may end the thread with an uncaught error while requests wait: a failure of a
-- whole batch answers each of its requests with a 500 and the loop goes on.
local ffi = require "ffi"
local cjson = require "cjson"
local hub = require "hub"
local handlers = require "hub.serving.handlers"
local C = hub.C or require("hub.core").C

local w = C.hub_serve_worker_self()
if w == nil then error("hub.serving.worker: this file runs in a serving worker thread (hubrun serving start)", 0) end

local mods = {}
local ok, err = pcall(function()
  local cfg = cjson.decode(arg[1] or "")
  for i, spec in ipairs(cfg.modules) do mods[i] = handlers.load(spec) end
end)
if not ok then
  C.hub_serve_worker_ready(w, 0, tostring(err))
  return
end
C.hub_serve_worker_ready(w, 1, nil)

local lenp = ffi.new("size_t[1]")
while true do
  local b = C.hub_serve_next(w)
  if b == nil then break end
  local n = C.hub_serve_batch_count(b)
  local entry = mods[C.hub_serve_batch_module(b) + 1]
  local kind = C.hub_serve_batch_kind(b)
  local bodies = {}
  for i = 0, n - 1 do
    local p = C.hub_serve_batch_body(b, i, lenp)
    bodies[i + 1] = ffi.string(p, lenp[0])
  end
  local okb, replies = pcall(handlers.run_batch, entry, kind, bodies)
  for i = 1, n do
    local r = okb and replies[i] or { 500, handlers.error_body(kind, "the worker failed: " .. tostring(replies)) }
    C.hub_serve_batch_reply(b, i - 1, r[1], r[2], #r[2])
  end
  C.hub_serve_batch_done(b)
  -- a full collection after every batch (~0.2 ms on a worker's heap): the batch's tensors are
  -- small cdata to Lua's collector, which would otherwise keep megabytes of activations alive
  -- for many batches in every worker -- with 4 workers that was 1.45x one worker's RSS
  collectgarbage()
end
