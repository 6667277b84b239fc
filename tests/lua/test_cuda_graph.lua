-- test_cuda_graph.lua: hub.cuda.graph (CUDA graphs).  A TransformerEncoderLayer and a whole ERNIE
-- encoder captured once give at every replay what the same modules give run op by op, for new
-- inputs written into the captured input tensors; an embedding id out of range gives zeros in a
-- replay (no read outside the table); inside a capture a read back or a host copy fails naming
-- itself, and the next capture works; a freed graph gives its memory back.  Runs on a GPU or on
-- the CUDA emulator (make test-cuda-emu); elsewhere it checks the error and says so.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local cuda = require "hub.cuda"
local F = require "finetune_fixture"

local function maxdiff(a, b) return (a - b):abs():max():item() end

if not cuda.is_available() or cuda.device_name(1):match("^stand%-in") then
  T.errors(function() cuda.graph(function() end) end, "CUDA", "cuda.graph without a GPU says why")
  local why = cuda.is_available() and "the stand-in device" or cuda.unavailable_reason()
  print("cuda: no GPU here (" .. why .. "); the graph cases were not run")
  T.finish()
  return
end

T.errors(function() cuda.graph(42) end, "function", "cuda.graph needs a function")

do -- a transformer layer
  hub.manual_seed(3)
  local layer = hub.nn.TransformerEncoderLayer(32, 4, 64, { dropout = 0 }):to("cuda")
  layer:eval()
  local x = hub.randn(2, 7, 32):cuda()
  local g = cuda.graph(function(inp) return layer(inp) end, x)
  local y0 = hub.no_grad(function() return layer(x) end)
  local y = g:replay()
  ok(y.device == "cuda" and maxdiff(y, y0) <= 1e-6, "a replay gives the eager result", maxdiff(y, y0))
  for i = 1, 3 do
    local xn = hub.randn(2, 7, 32)
    x:copy_(xn:cuda())
    local yr = g:replay()
    local ye = hub.no_grad(function() return layer(xn:cuda()) end)
    ok(maxdiff(yr, ye) <= 1e-6 and maxdiff(yr, y0) > 1e-2, "replay " .. i .. ": the result for the new input", maxdiff(yr, ye))
  end
  g:free()
  T.errors(function() g:replay() end, "freed", "a freed graph cannot replay")
end

do -- a whole ERNIE encoder (embeddings, attention with a padding mask, pooler)
  local net = F.encoder(5, { layers = 2, hidden = 32, pooler = true })
  net:to("cuda"); net:eval()
  local ids = hub.tensor({ { 2, 100, 200, 300, 3, 0, 0 }, { 2, 400, 500, 600, 700, 800, 3 } }, "i64"):cuda()
  local mask = ids:ne(0):to("i64")
  local g = cuda.graph(function()
    local o = net { input_ids = ids, attention_mask = mask }
    return o.sequence_output, o.pooled_output
  end)
  local function eager() return hub.no_grad(function() return net { input_ids = ids, attention_mask = mask } end) end
  local s, p = g:replay()
  local e = eager()
  ok(maxdiff(s, e.sequence_output) <= 1e-5 and maxdiff(p, e.pooled_output) <= 1e-5, "ERNIE: replay = eager",
     maxdiff(s, e.sequence_output))
  ids:copy_(hub.tensor({ { 2, 7, 8, 9, 10, 11, 3 }, { 2, 12, 3, 0, 0, 0, 0 } }, "i64"):cuda())
  mask:copy_(ids:ne(0):to("i64"))
  s, p = g:replay()
  e = eager()
  ok(maxdiff(s, e.sequence_output) <= 1e-5 and maxdiff(p, e.pooled_output) <= 1e-5,
     "ERNIE: new ids and mask written in place, replayed", maxdiff(s, e.sequence_output))
  -- an id out of range: eager refuses it, a replay gives zeros (the embedding rows), no stray read
  local emb = hub.nn.Embedding(10, 4):to("cuda")
  local eid = hub.tensor({ 1, 2, 3 }, "i64"):cuda()
  local ge = cuda.graph(function() return emb(eid) end)
  eid:copy_(hub.tensor({ 1, 99, 3 }, "i64"):cuda())
  T.errors(function() hub.no_grad(function() return emb(eid) end) end, "out of range", "eager: a bad id is an error")
  local r = ge:replay():cpu()
  ok(r[2]:abs():sum():item() == 0 and maxdiff(r[1], emb.weight[2]:cpu()) == 0, "replay: a bad id gives a row of zeros")
end

do -- what a capture refuses, and the next capture still works
  local x = hub.randn(4):cuda()
  local e1 = select(2, pcall(cuda.graph, function() return (x * 2):sum():item() end))
  ok(tostring(e1):match("read back"), "item() inside a capture is refused by name", e1)
  local e2 = select(2, pcall(cuda.graph, function() return x + hub.tensor({ 1, 2, 3, 4 }):cuda() end))
  ok(tostring(e2):match("copy from host memory"), "a host tensor moved inside a capture is refused by name", e2)
  local g = cuda.graph(function() return x * 3 end)
  ok(maxdiff(g:replay(), x * 3) == 0, "a capture after failed ones works")
  -- a graph freed during another capture (as a garbage collector's finalizer may): deferred
  local calls = 0
  local g2 = cuda.graph(function()
    calls = calls + 1
    if calls == 2 then g:free() end
    return x * 4
  end)
  ok(calls == 2 and maxdiff(g2:replay(), x * 4) == 0, "freeing a graph inside a capture does not break it")
  g2:free()
end

do -- a task's predictions through CUDA graphs (task:use_cuda_graphs): the same as op by op
  local net, tk = F.encoder(1, { hidden = 32, layers = 2 })
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 24, num_classes = 2 }
  task:place("cuda")
  local texts = { "这个很好今天", "太差", "我们今天真的很满意这个酒店房间", "糟糕", "喜欢", "房间很脏真的失望了我们" }
  local eager = task:predict(texts, { batch_size = 4 })
  task:use_cuda_graphs(true)
  local g1 = task:predict(texts, { batch_size = 4 })
  local g2 = task:predict(texts, { batch_size = 4 })
  local worst = 0
  for i = 1, #texts do
    for c = 1, 2 do worst = math.max(worst, math.abs(g1[i].probs[c] - eager[i].probs[c]), math.abs(g2[i].probs[c] - eager[i].probs[c])) end
  end
  ok(worst <= 1e-6, "task predictions through graphs = op by op (lengths padded to 16, masked)", worst)
  local st = task:cuda_graph_stats()
  ok(st.captures == 2 and st.replays == 4 and not st.off, "one capture per batch shape, replays after",
     st.captures .. " captures, " .. st.replays .. " replays")
  -- a CRF task cannot be captured (its decoding reads lengths on the host): it falls back
  local sl = hub.task.sequence_labeling { network = F.encoder(2), tokenizer = tk, max_seq_len = 24, crf = true,
                                          labels = { "O", "B-X", "I-X" } }
  sl:place("cuda")
  local e2 = sl:predict(texts, { batch_size = 4 })
  sl:use_cuda_graphs(true)
  local g3 = sl:predict(texts, { batch_size = 4 })
  ok(table.concat(e2[3].tags, " ") == table.concat(g3[3].tags, " ") and sl:cuda_graph_stats().off,
     "a task whose forward cannot be captured falls back to op by op")
end

do -- modules: the registry's encoder and fine-tuned module with cuda_graphs (make registry built them)
  local here = (arg[0]:match("^(.*)/") or ".") .. "/../.."
  local reg = os.getenv("HUB_REGISTRY_DIR")
  reg = reg and reg ~= "" and reg or here .. "/build/registry"
  local function newest(name)
    local p = io.popen("ls -d '" .. reg .. "/" .. name .. "'/*/ 2>/dev/null | sort -V | tail -1")
    local d = p:read("*l"); p:close()
    return d and d ~= "" and d:gsub("/$", "") or nil
  end
  local texts = { "这家酒店很干净", "打开文件菜单，然后选择保存。", "服务太差了", "还行" }
  local enc = newest("ernie-tiny-zh")
  if enc then
    local mg, mgg = hub.module(enc, { device = "cuda" }), hub.module(enc, { device = "cuda", cuda_graphs = true })
    local v1, v2 = mg:vectors(texts, { batch_size = 3 }), mgg:vectors(texts, { batch_size = 3 })
    local v3 = mgg:vectors(texts, { batch_size = 3 })
    ok(maxdiff(v1, v2) <= 1e-5 and maxdiff(v1, v3) <= 1e-5, "encoder module: vectors through graphs = op by op", maxdiff(v1, v2))
    local st = mgg.state.graphs:stats()
    ok(st.captures == 2 and st.replays == 4, "encoder module: one graph per batch shape", st.captures .. "/" .. st.replays)
    local _, s1 = mg:embed(texts, { batch_size = 4 })
    local _, s2 = mgg:embed(texts, { batch_size = 4 })
    ok(maxdiff(s1, s2) <= 1e-5, "encoder module: sequence output through graphs = op by op", maxdiff(s1, s2))
  else
    print("(no ernie-tiny-zh in " .. reg .. ": make registry; module cases skipped)")
  end
  local senta = newest("senta-ernie-tiny-zh")
  if senta then
    local a = hub.module(senta, { device = "cuda" }):predict(texts)
    local b = hub.module(senta, { device = "cuda", cuda_graphs = true }):predict(texts)
    local same = true
    for i = 1, #texts do same = same and a[i].sentiment_key == b[i].sentiment_key and math.abs(a[i].positive_probs - b[i].positive_probs) <= 1e-4 end
    ok(same, "fine-tuned module: predictions through graphs = op by op")
  end
end

do -- memory: a freed graph's pool is given back
  collectgarbage(); collectgarbage()
  local base = cuda.memory_stats().live_bytes
  local x = hub.randn(64, 64):cuda()
  local g = cuda.graph(function() return (x:matmul(x) + 1):relu():sum(-1) end)
  g:replay()
  g:free()
  g = nil
  collectgarbage(); collectgarbage()
  local after = cuda.memory_stats().live_bytes
  ok(after <= base + 64 * 64 * 4, "after free the graph's memory is not held", base .. " -> " .. after)
end

T.finish()
