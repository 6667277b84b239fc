-- hub.task.text_matching (lua/hub/task/matching.lua) against values computed here by hand:
-- the (query, match, non-match) triples formed from pair data; the margin ranking loss on fixed
-- scores; the cosine score and mean pooling recomputed in Lua from the task's own encoder
-- output; the gradient of cosine + margin loss in f64 against central differences, and the
-- gradient of the whole task (encoder and dense head) in f32 against central differences; the
-- pairwise metrics (ranking accuracy, ROC AUC by counting, thresholded pair metrics) on fixed
-- scores.  Then it learns toy data (a tiny random encoder, tests/lua/finetune_fixture.lua), the
-- pointwise mode is text classification on the pair with a match score, and both modes export,
-- install and run with predictions equal to the task's.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local F = require "finetune_fixture"
local ok = T.ok
local hub = require "hub"
local matching = require "hub.task.matching"
local dataset = require "hub.datasets.dataset"

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-5) * math.max(1, math.abs(b)) end

-- ---- toy pair data: finetune_fixture's query_pairs ----
local toy = F.query_pairs

-- ---- triples ----
do
  local exs = {
    { text_a = "q1", text_b = "a", label = 1 }, { text_a = "q1", text_b = "b", label = 0 },
    { text_a = "q2", text_b = "c", label = 1 }, { text_a = "q1", text_b = "d", label = 1 },
    { text_a = "q3", text_b = "e", label = 0 }, { text_a = "q2", text_b = "f", label = 0 },
    { text_a = "q2", text_b = "g", label = 0 }, { text_a = "q2", text_b = "h", label = 0 },
  }
  local tr, info = matching.triples(exs)
  local got = {}
  for i, t in ipairs(tr) do got[i] = t.query .. ":" .. t.pos .. ">" .. t.neg end
  -- q1: P = {a, d}, N = {b} -> 2 triples; q2: P = {c}, N = {f, g, h} -> 3; q3 has no match
  ok(table.concat(got, " ") == "q1:a>b q1:d>b q2:c>f q2:c>g q2:c>h", "triples: grouped by query, max(P, N) each, cyclic", table.concat(got, " "))
  ok(info.queries == 3 and info.triples == 5 and info.unused == 1, "triples: counts (q3's lone non-match unused)")
  T.errors(function() matching.triples { { text_a = "q", text_b = "t", label = 2, id = "x.tsv:3" } } end, "x.tsv:3",
    "a label other than 0/1 is an error naming the example")
  T.errors(function() matching.triples { { text_a = "q", label = 1 } } end, "not a pair", "a single text is an error")
end

-- ---- the margin loss on fixed scores ----
do
  local pos, neg = hub.tensor { 0.9, 0.2, 0.5, 0.35 }, hub.tensor { 0.1, 0.3, 0.5, 0.3 }
  -- max(0, 0.1 - 0.8) = 0, max(0, 0.1 + 0.1) = 0.2, max(0, 0.1) = 0.1, max(0, 0.1 - 0.05) = 0.05
  local l = matching.margin_loss(pos, neg, 0.1):item()
  ok(close(l, (0 + 0.2 + 0.1 + 0.05) / 4), "margin loss = mean max(0, margin - pos + neg)", l)
  ok(close(matching.margin_loss(pos, neg, 0):item(), 0.1 / 4), "margin 0: only the inverted pair counts")
end

-- a batch of the first n training triples
local function triple_batch(task, ds, n)
  local f = task:featurize(ds, { cache = false, splits = { "train" } }).train
  local idx = {}
  for i = 1, n do idx[i] = i end
  return f:batch(idx), f
end

local function flat(t)
  local out = {}
  local function walk(x) if type(x) == "table" then for i = 1, #x do walk(x[i]) end else out[#out + 1] = x end end
  walk(t:totable())
  return out
end

-- ---- the cosine score and mean pooling, recomputed in Lua ----
do
  local net, tk = F.encoder(1)
  local task = hub.task.text_matching { network = net, tokenizer = tk, max_seq_len = 24, mode = "pairwise" }
  ok(task.main_metric == "acc" and task.margin == 0.1 and task.score_kind == "cosine" and task.pooling == "mean",
    "pairwise defaults: acc, margin 0.1, cosine, mean pooling")
  local ds = toy(40)
  local b = triple_batch(task, ds, 5)
  task:eval()
  local out, vq, vp = hub.no_grad(function()
    return task:forward_batch(b), task:vectors(b.q):totable(), task:vectors(b.p):totable()
  end)
  -- mean pooling by hand from the encoder's sequence output
  local seq = hub.no_grad(function()
    return net:forward { input_ids = b.q.input_ids, token_type_ids = b.q.token_type_ids, attention_mask = b.q.attention_mask }
  end).sequence_output:totable()
  local mask = b.q.attention_mask:totable()
  local worst = 0
  for i = 1, #seq do
    local n = 0
    for j = 1, #mask[i] do n = n + mask[i][j] end
    for h = 1, #seq[i][1] do
      local s = 0
      for j = 1, #mask[i] do s = s + seq[i][j][h] * mask[i][j] end
      worst = math.max(worst, math.abs(s / n - vq[i][h]))
    end
  end
  ok(worst < 1e-5, "mean pooling = the masked mean of the token states", worst)
  local pos = out.pos:totable()
  local ok_cos = true
  for i = 1, #vq do
    local d, a2, b2 = 0, 0, 0
    for h = 1, #vq[i] do d = d + vq[i][h] * vp[i][h]; a2 = a2 + vq[i][h] ^ 2; b2 = b2 + vp[i][h] ^ 2 end
    if not close(pos[i], d / math.sqrt(a2 * b2), 1e-5) then ok_cos = false end
  end
  ok(ok_cos, "s(q, pos) = the cosine of the pooled vectors")
  local loss = task:loss(out, b):item()
  local want = 0
  local neg = out.neg:totable()
  for i = 1, #pos do want = want + math.max(0, 0.1 - pos[i] + neg[i]) end
  ok(close(loss, want / #pos), "the task's loss is the margin loss of its scores", loss .. " vs " .. want / #pos)
  -- predict scores the pairs the same way
  local tr = matching.triples(ds.train)
  local r = task:predict { { tr[1].query, tr[1].pos }, tr[1].query .. "\t" .. tr[1].neg }
  ok(close(r[1].score, pos[1], 1e-5) and close(r[2].score, neg[1], 1e-5), "predict returns s(q, title) as score",
    r[1].score .. " " .. pos[1])
  ok(r[1].text == tr[1].query and r[1].text_b == tr[1].pos and (r[1].label_id == 1) == (r[1].score >= 0.5) and
     r[1].label == task.labels[r[1].label_id + 1], "predict: text, text_b, label at the threshold")
end

-- ---- the gradient of cosine + margin loss, f64, against central differences ----
do
  hub.manual_seed(5)
  local q, p, n = hub.randn({ 3, 4 }, "f64"), hub.randn({ 3, 4 }, "f64"), hub.randn({ 3, 4 }, "f64")
  local fake = { score_kind = "cosine" }
  local margin = 1.5   -- every row active: the loss is smooth at these points
  local function loss_of(qt, pt, nt)
    return matching.margin_loss(matching.Pairwise.score(fake, qt, pt), matching.Pairwise.score(fake, qt, nt), margin)
  end
  local leaves = { q:clone():requires_grad(true), p:clone():requires_grad(true), n:clone():requires_grad(true) }
  loss_of(leaves[1], leaves[2], leaves[3]):backward()
  local base_vals = { flat(q), flat(p), n and flat(n) }
  local worst = 0
  for which = 1, 3 do
    local g = flat(leaves[which].grad)
    for k = 1, 12 do
      local function at(delta)
        local v = {}
        for w = 1, 3 do
          local t = { unpack(base_vals[w]) }
          if w == which then t[k] = t[k] + delta end
          v[w] = hub.tensor(t, "f64"):reshape(3, 4)
        end
        return loss_of(v[1], v[2], v[3]):item()
      end
      local num = (at(1e-6) - at(-1e-6)) / 2e-6
      worst = math.max(worst, math.abs(num - g[k]) / (1e-7 + 1e-6 * math.abs(g[k])))
    end
  end
  ok(worst <= 1, "d(margin loss of cosines)/d(vectors) = central differences (f64, 1e-7 + 1e-6 |g|)", worst)
end

-- ---- the whole task's gradient (encoder and heads), f32, against central differences ----
local function task_gradcheck(score, names)
  local net, tk = F.encoder(7)
  local task = hub.task.text_matching { network = net, tokenizer = tk, max_seq_len = 24, mode = "pairwise", score = score,
    margin = score == "dense" and 20 or 3, dropout = 0 }
  local b = triple_batch(task, toy(40), 6)
  task:eval()  -- no dropout anywhere
  local params = {}
  for name, p in task:named_parameters() do params[name] = p end
  local out = task:forward_batch(b)
  task:loss(out, b):backward()
  local worst, checked = 0, 0
  for _, name in ipairs(names) do
    local p = params[name]
    local g = flat(p.grad)
    local numel = #g
    for k = 1, numel, math.max(1, math.floor(numel / 6)) do
      local function at(delta)
        local d = {}
        for i = 1, numel do d[i] = 0 end
        d[k] = delta
        local dt = hub.tensor(d):reshape(unpack(p.shape))
        hub.no_grad(function() p:add_(dt) end)
        local l = hub.no_grad(function() return task:loss(task:forward_batch(b), b):item() end)
        hub.no_grad(function() p:add_(-dt) end)
        return l
      end
      local num = (at(1e-2) - at(-1e-2)) / 2e-2
      worst = math.max(worst, math.abs(num - g[k]) / (2e-3 + 2e-2 * math.abs(g[k])))
      checked = checked + 1
    end
  end
  return worst, checked
end
do
  local w, n = task_gradcheck("cosine", { "encoder.encoder.layers.0.linear2.weight", "encoder.embeddings.layer_norm.weight" })
  ok(w <= 1 and n >= 10, "cosine task: d loss / d encoder weights = central differences (f32, 2e-3 + 2e-2 |g|)", w)
  w, n = task_gradcheck("dense", { "scorer.weight", "scorer.bias", "encoder.encoder.layers.0.linear1.weight" })
  ok(w <= 1 and n >= 10, "dense task: d loss / d (head, encoder) = central differences (f32)", w)
end

-- ---- pairwise metrics on fixed scores ----
do
  local net, tk = F.encoder(2)
  local task = hub.task.text_matching { network = net, tokenizer = tk, mode = "pairwise" }
  -- triples: (0.9, 0.2) right, (0.4, 0.6) wrong, (0.7, 0.7) tie = wrong, (0.55, 0.3) right
  local m = task:summarize { pos = { 0.9, 0.4, 0.7, 0.55 }, neg = { 0.2, 0.6, 0.7, 0.3 } }
  ok(close(m.acc, 0.5), "ranking accuracy: s(q, pos) > s(q, neg) in 2 of 4 (ties wrong)", m.acc)
  -- AUC by counting the 16 (match, non-match) pairs: match 0.9 beats 4; 0.4 beats 2 (0.2, 0.3);
  -- 0.7 beats 3 (0.2, 0.6, 0.3) and ties 1; 0.55 beats 2 -> (4 + 2 + 3.5 + 2) / 16
  ok(close(m.auc, 11.5 / 16), "AUC = the share of (match, non-match) pairs ordered right, ties half", m.auc)
  -- threshold 0.5: matches >= 0.5: 0.9, 0.7, 0.55 (tp 3, fn 1); non-matches >= 0.5: 0.6, 0.7 (fp 2, tn 2)
  ok(close(m.pair_acc, 5 / 8) and close(m.precision, 3 / 5) and close(m.recall, 3 / 4) and
     close(m.f1, 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)), "pair accuracy, precision, recall, F1 at threshold 0.5")
  ok(close(m.mean_pos, 2.55 / 4) and close(m.mean_neg, 1.8 / 4), "mean scores")
end

-- ---- options and errors ----
do
  local net, tk = F.encoder(3)
  T.errors(function() hub.task.text_matching { network = net, tokenizer = tk, mode = "listwise" } end, "mode must be",
    "an unknown mode")
  T.errors(function() hub.task.text_matching { network = net, tokenizer = tk, margin = 0.2 } end, "mode = \"pairwise\"",
    "margin without pairwise")
  T.errors(function() hub.task.text_matching { network = net, tokenizer = tk, mode = "pairwise", score = "dot" } end,
    "score must be", "an unknown score")
  T.errors(function() hub.task.text_matching { network = net, tokenizer = tk, labels = { "a", "b", "c" } } end,
    "two labels", "three labels")
  local task = hub.task.text_matching { network = net, tokenizer = tk, mode = "pairwise" }
  T.errors(function() hub.finetune(task, F.sentiment(), { cache = false, quiet = true }) end, "pair data", "single-text data")
  local only_pos = dataset.new { name = "p", kind = "pair", labels = { "n", "y" },
    train = { { text_a = "a", text_b = "b", label = 1 } } }
  T.errors(function() task:featurize(only_pos, { cache = false }) end, "give no triples", "no query with both labels")
end

-- ---- learning: pairwise (cosine) on the toy data ----
local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local tmp = io.popen("mktemp -d /tmp/hub_match_XXXXXX"):read("*l")
local q = T.q
local function sh(cmd)
  local p = io.popen("HUB_HOME=" .. q(tmp .. "/home") .. " HUB_OFFLINE=1 " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local s = p:read("*a")
  p:close()
  return s
end
local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function export_check(task, name, inputs)
  local want = task:predict(inputs)
  local dir = tmp .. "/" .. name
  task:export { name = name, dir = dir }
  local manifest = require("hub.module").read_manifest(dir)
  ok(manifest.type == "nlp/text_matching" and manifest.config.task == "text_matching" and
     manifest.config.task_config.mode == task.mode, name .. ": module.json: nlp/text_matching, the mode")
  ok(deep_equal(hub.module(dir):predict(inputs), want), name .. ": hub.module(dir):predict equals task:predict exactly")
  ok(deep_equal(hub.task.load(dir):predict(inputs), want), name .. ": hub.task.load(dir) predicts the same")
  local out = sh(q(HUBRUN) .. " install " .. q(dir))
  ok(out:find("rc=0", 1, true), name .. ": hubrun install", out)
  local line = inputs[1]
  if type(line) == "table" then line = line[1] .. "\t" .. line[2] end
  out = sh(q(HUBRUN) .. " run " .. name .. " --input_text " .. q(line))
  ok(out == task:format_result(want[1]) .. "\nrc=0\n", name .. ": hubrun run prints the task's result", out)
end

do
  local net, tk = F.encoder(4)
  local task = hub.task.text_matching { network = net, tokenizer = tk, max_seq_len = 16, mode = "pairwise", margin = 0.5 }
  local ds = toy(200)
  local run = hub.finetune(task, ds, { epochs = 6, batch_size = 16, lr = 1e-2, cache = false, progress = false, quiet = true })
  ok(run.test.acc >= 0.9 and run.test.auc >= 0.9, "pairwise learns the toy matching (test ranking acc and AUC >= 0.9; chance 0.5)",
    string.format("acc %.3f auc %.3f", run.test.acc, run.test.auc))
  local r = task:predict { { "这个很好", "喜欢我们" }, { "这个很好", "讨厌我们" } }
  ok(r[1].score > r[2].score, "after training: a same-polarity title scores above an opposite one",
    r[1].score .. " vs " .. r[2].score)
  export_check(task, "toy-match-pairwise", { { "这个很好", "喜欢我们" }, "房间糟糕\t失望今天" })
  -- a dense head exports too (briefly trained, so the head is not at its initial values)
  local net2, tk2 = F.encoder(6)
  local dense = hub.task.text_matching { network = net2, tokenizer = tk2, max_seq_len = 16, mode = "pairwise", score = "dense", margin = 1 }
  hub.finetune(dense, toy(60), { epochs = 1, batch_size = 8, lr = 1e-2, cache = false, progress = false, quiet = true, eval_test = false })
  export_check(dense, "toy-match-dense", { { "这个很好", "喜欢我们" }, "房间糟糕\t失望今天" })
end

-- ---- pointwise: text classification on the pair, with a match score ----
do
  local net, tk = F.encoder(5)
  local task = hub.task.text_matching { network = net, tokenizer = tk, max_seq_len = 16 }
  ok(task.mode == "pointwise", "the default mode is pointwise")
  -- the fixture's pairs: a match when the title holds a positive word (the query always does)
  local run = hub.finetune(task, F.pairs(200), { epochs = 4, batch_size = 16, lr = 1e-2, cache = false, progress = false, quiet = true })
  ok(run.test.acc >= 0.9, "pointwise learns the fixture's pairs (test acc >= 0.9)", run.test.acc)
  local r = task:predict { { "这个很好", "喜欢我们" } }[1]
  ok(r.score == r.probs[2] and #r.probs == 2 and r.label == task.labels[r.label_id + 1], "pointwise predict: score = P(match)")
  export_check(task, "toy-match-pointwise", { { "这个很好", "喜欢我们" }, "房间糟糕\t失望今天" })
end

if T.failed == 0 then os.execute("rm -rf " .. q(tmp)) end
T.finish()
