-- test_crf.lua - the linear-chain CRF: hub.crf_nll (with its gradient), hub.crf_decode and nn.CRF.
--
-- Against three independent references:
--  * brute force in Lua (double precision): on tiny sequences (C <= 4 tags, L <= 5 positions,
--    with lengths/padding, some of length 0) every one of the C^n tag paths is scored, giving
--    log Z = log sum exp(score), the gold NLL, the unary and pairwise marginals (so the gradient
--    of sum_b w_b nll_b, which is w_b * (marginals - gold counts), is checked element by element)
--    and the best path (checked against crf_decode);
--  * finite differences of the NLL (central, eps 1e-2 on the f32 inputs) on a small case; the
--    same op is also in test_gradcheck.lua's list;
--  * PyTorch: tests/fixtures/crf.json from scripts/gen_crf_fixture.py, a hand-written batched
--    forward algorithm with torch.autograd gradients and a torch Viterbi, on larger cases
--    (up to 25 tags, 40 positions) and one with forbidden (-1e4) BIO transitions.
-- Tolerances: the C kernel and every reference work in double from the same f32 inputs, so the
-- only difference is the final rounding to f32 (~6e-8 relative): 1e-5 absolute + 1e-5 relative
-- for the brute force, 1e-4 + 1e-5 relative against torch (its log-sum-exp order differs), and
-- decoded paths exactly.  Then errors (bad shapes, tags out of range, bad lengths/masks), mask
-- and lengths forms, thread-count independence, and nn.CRF (parameters, reductions, decode, a
-- short training run that learns a tag pattern from the transitions alone).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local cjson = require "cjson"

hub.manual_seed(4242)

local function flat(t)
  local tb = type(t) == "table" and t or t:totable()
  if type(tb) ~= "table" then return { tb } end
  local out = {}
  local function walk(x)
    if type(x) == "table" then for i = 1, #x do walk(x[i]) end else out[#out + 1] = x end
  end
  walk(tb)
  return out
end

local function nest(data, shape)
  local k = 0
  local function build(d)
    local r = {}
    for i = 1, shape[d] do
      if d == #shape then k = k + 1; r[i] = data[k] else r[i] = build(d + 1) end
    end
    return r
  end
  return build(1)
end

-- max |a - b| and whether every element is within atol + rtol |b|
local function close(a, b, atol, rtol)
  if #a ~= #b then return false, math.huge end
  local worst, good = 0, true
  for i = 1, #a do
    local d = math.abs(a[i] - b[i])
    if d > worst then worst = d end
    if not (d <= atol + rtol * math.abs(b[i])) then good = false end
  end
  return good, worst
end

local function logsumexp(xs)
  local m = -math.huge
  for _, x in ipairs(xs) do if x > m then m = x end end
  if m == -math.huge then return m end
  local s = 0
  for _, x in ipairs(xs) do s = s + math.exp(x - m) end
  return m + math.log(s)
end

-- ---- brute force over every path of one sequence ----
-- em[t][j] (t = 1..n), tr[i][j], st[j], en[j] as Lua numbers (1-based tags here); returns log Z,
-- the score of a path, unary marginals u[t][j], pairwise p[t][i][j] (t = 2..n) and the best path
-- (0-based tags).
local function brute(em, n, C, tr, st, en)
  local function score(y)
    local s = st[y[1]] + en[y[n]]
    for t = 1, n do s = s + em[t][y[t]] end
    for t = 2, n do s = s + tr[y[t - 1]][y[t]] end
    return s
  end
  local all, ys = {}, {}
  local y = {}
  for t = 1, n do y[t] = 1 end
  while true do
    local c = {}
    for t = 1, n do c[t] = y[t] end
    ys[#ys + 1] = c
    all[#all + 1] = score(c)
    local t = n
    while t >= 1 and y[t] == C do y[t] = 1; t = t - 1 end
    if t < 1 then break end
    y[t] = y[t] + 1
  end
  local logz = logsumexp(all)
  local u, p = {}, {}
  for t = 1, n do
    u[t] = {}
    for j = 1, C do u[t][j] = 0 end
    p[t] = {}
    for i = 1, C do p[t][i] = {} for j = 1, C do p[t][i][j] = 0 end end
  end
  local best, bs = nil, -math.huge
  for k, path in ipairs(ys) do
    local pr = math.exp(all[k] - logz)
    for t = 1, n do u[t][path[t]] = u[t][path[t]] + pr end
    for t = 2, n do p[t][path[t - 1]][path[t]] = p[t][path[t - 1]][path[t]] + pr end
    if all[k] > bs then bs, best = all[k], path end
  end
  local b0 = {}
  for t = 1, n do b0[t] = best[t] - 1 end
  return logz, score, u, p, b0
end

local worst = { nll = 0, gem = 0, gtr = 0, gse = 0 }
-- Checks crf_nll (values and gradients of sum_b w_b nll_b) and crf_decode on em [B, L, C] with
-- tags (Lua arrays) and lengths against brute force; returns whether everything matched.
local function check_brute(em, tr, st, en, tags, lengths, w, C, L)
  local B = #lengths
  local nll = hub.crf_nll(em, hub.tensor(tags, "i64"), hub.tensor(lengths, "i64"), tr, st, en)
  nll:backward(hub.tensor(w))
  local path = hub.crf_decode(em, lengths, tr, st, en):totable()
  local E, TR, ST, EN = em:totable(), tr:totable(), st:totable(), en:totable()
  local nl = flat(nll)
  local gem_ref, gtr_ref, gst_ref, gen_ref = {}, {}, {}, {}
  for i = 1, C do gst_ref[i], gen_ref[i] = 0, 0; gtr_ref[i] = {} for j = 1, C do gtr_ref[i][j] = 0 end end
  local case_ok = true
  for b = 1, B do
    local n = lengths[b]
    gem_ref[b] = {}
    for t = 1, L do gem_ref[b][t] = {} for j = 1, C do gem_ref[b][t][j] = 0 end end
    if n == 0 then
      case_ok = case_ok and nl[b] == 0
      for t = 1, L do case_ok = case_ok and path[b][t] == -1 end
    else
      local logz, score, u, p, best = brute(E[b], n, C, TR, ST, EN)
      local gold = {}
      for t = 1, n do gold[t] = tags[b][t] + 1 end
      local ref = logz - score(gold)
      local d = math.abs(nl[b] - ref)
      worst.nll = math.max(worst.nll, d)
      case_ok = case_ok and d <= 1e-5 + 1e-5 * math.abs(ref)
      for t = 1, L do case_ok = case_ok and path[b][t] == (t <= n and best[t] or -1) end
      for t = 1, n do
        for j = 1, C do gem_ref[b][t][j] = w[b] * (u[t][j] - (gold[t] == j and 1 or 0)) end
      end
      for j = 1, C do
        gst_ref[j] = gst_ref[j] + w[b] * (u[1][j] - (gold[1] == j and 1 or 0))
        gen_ref[j] = gen_ref[j] + w[b] * (u[n][j] - (gold[n] == j and 1 or 0))
      end
      for t = 2, n do
        for i = 1, C do for j = 1, C do gtr_ref[i][j] = gtr_ref[i][j] + w[b] * p[t][i][j] end end
        gtr_ref[gold[t - 1]][gold[t]] = gtr_ref[gold[t - 1]][gold[t]] - w[b]
      end
    end
  end
  local function cmp(got, ref, key)
    local g, d = close(flat(got), flat(ref), 1e-5, 1e-5)
    worst[key] = math.max(worst[key], d)
    return g
  end
  local good = case_ok and cmp(em.grad, gem_ref, "gem") and cmp(tr.grad, gtr_ref, "gtr")
    and cmp(st.grad, gst_ref, "gse") and cmp(en.grad, gen_ref, "gse")
  return good
end

-- ---- 1. tiny cases against brute force ----
local ncase = 0
for C = 1, 4 do
  for L = 1, 5 do
    if C ^ L <= 1024 then
      ncase = ncase + 1
      local B = 3
      local lengths = { L, math.random(0, L), math.max(1, L - 1) }
      if ncase % 3 == 0 then lengths[2] = 0 end
      local em = (hub.randn(B, L, C) * 1.5):requires_grad()
      local tr = hub.randn(C, C):requires_grad()
      local st = hub.randn(C):requires_grad()
      local en = hub.randn(C):requires_grad()
      local tags = {}
      for b = 1, B do
        tags[b] = {}
        for t = 1, L do tags[b][t] = t <= lengths[b] and math.random(0, C - 1) or (b == 2 and -100 or 7) end
      end
      local w = { 0.7, -1.3, 2.1 }
      local good = check_brute(em, tr, st, en, tags, lengths, w, C, L)
      ok(good, string.format("brute force C=%d L=%d lengths {%s}: nll, decode and gradients", C, L,
        table.concat(lengths, ",")))
    end
  end
end
print(string.format("brute force: %d cases, max err nll %.2e, d/dem %.2e, d/dtrans %.2e, d/dstart,end %.2e",
  ncase, worst.nll, worst.gem, worst.gtr, worst.gse))

-- extreme and forbidden scores, where the kernel's scaled exponentials underflow or the
-- pairwise factors would overflow and it falls back to exact log-sum-exps: still the brute-force
-- values (which are computed directly)
do
  local C, L = 3, 5
  local cases = {
    { start = { 0, -1000, -2000 }, trans = { { 0, -1000, -math.huge }, { -1000, 0, -800 }, { -1e4, -1e4, 0 } }, scale = 1 },
    { start = { 0, 0, 0 }, trans = { { 0, -1e4, 2 }, { -1e4, 1, -1e4 }, { 3, -1e4, -1e4 } }, scale = 400 },
    { start = { -700, 0, -1500 }, trans = { { -750, 0, -750 }, { -1e4, -760, 0 }, { 0, -1e4, -770 } }, scale = 300 },
  }
  for k, c in ipairs(cases) do
    hub.manual_seed(100 + k)
    local em = (hub.randn(2, L, C) * c.scale):requires_grad()
    local tr = hub.tensor(c.trans):requires_grad()
    local st = hub.tensor(c.start):requires_grad()
    local en = hub.tensor({ 0, -900, 5 }):requires_grad()
    -- gold paths of finite score: the brute-force best path of each sequence
    local tags = {}
    local E = em:totable()
    for b = 1, 2 do
      local _, _, _, _, best = brute(E[b], L, C, tr:totable(), st:totable(), en:totable())
      tags[b] = best
    end
    tags[2][4], tags[2][5] = -100, -100
    ok(check_brute(em, tr, st, en, tags, { L, 3 }, { 1.1, -0.6 }, C, L), "extreme scores case " .. k .. " against brute force")
  end
end

-- log Z alone: nll + gold score (from the tensors) equals log Z by brute force, for every tag
-- sequence the same (log Z does not depend on the tags)
do
  local C, L = 3, 4
  local em, tr, st, en = hub.randn(1, L, C), hub.randn(C, C), hub.randn(C), hub.randn(C)
  local logz = brute(em:totable()[1], L, C, tr:totable(), st:totable(), en:totable())
  local E, TR, ST, EN = em:totable()[1], tr:totable(), st:totable(), en:totable()
  local good = true
  for a = 0, C - 1 do
    for b = 0, C - 1 do
      local y = { a, b, (a + b) % C, a }
      local s = ST[y[1] + 1] + EN[y[L] + 1]
      for t = 1, L do s = s + E[t][y[t] + 1] end
      for t = 2, L do s = s + TR[y[t - 1] + 1][y[t] + 1] end
      local got = hub.crf_nll(em, hub.tensor({ y }, "i64"), nil, tr, st, en):item() + s
      good = good and math.abs(got - logz) <= 1e-5 * (1 + math.abs(logz))
    end
  end
  ok(good, "nll + gold score = log Z (brute force) for 9 different gold paths")
end

-- a single tag: the only path is the gold one, nll 0, zero gradient
do
  local em = hub.randn(2, 3, 1):requires_grad()
  local tr, st, en = hub.randn(1, 1):requires_grad(), hub.randn(1):requires_grad(), hub.randn(1):requires_grad()
  local nll = hub.crf_nll(em, hub.zeros({ 2, 3 }, "i64"), { 3, 2 }, tr, st, en)
  nll:sum():backward()
  local z = true
  for _, v in ipairs(flat(nll)) do z = z and math.abs(v) < 1e-6 end
  for _, g in ipairs { em.grad, tr.grad, st.grad, en.grad } do
    for _, v in ipairs(flat(g)) do z = z and math.abs(v) < 1e-6 end
  end
  ok(z, "one tag: nll 0 and zero gradients")
end

-- ---- 2. finite differences ----
do
  local B, L, C = 2, 4, 3
  local em0, tr0, st0, en0 = hub.randn(B, L, C) * 1.5, hub.randn(C, C), hub.randn(C), hub.randn(C)
  local tags = hub.tensor({ { 0, 2, 1, 1 }, { 1, 0, 2, -1 } }, "i64")
  local lens = { 4, 3 }
  local w = { 0.8, -1.7 }
  local function loss(e, t, s, n)
    local v = flat(hub.crf_nll(e, tags, lens, t, s, n))
    return w[1] * v[1] + w[2] * v[2]
  end
  local em, tr, st, en = em0:clone():requires_grad(), tr0:clone():requires_grad(), st0:clone():requires_grad(),
    en0:clone():requires_grad()
  hub.crf_nll(em, tags, lens, tr, st, en):backward(hub.tensor(w))
  local args = { em0, tr0, st0, en0 }
  local grads = { em.grad, tr.grad, st.grad, en.grad }
  local names = { "emissions", "transitions", "start", "end" }
  local EPS = 1e-2
  for a = 1, 4 do
    local base = flat(args[a])
    local g = flat(grads[a])
    local good, maxd = true, 0
    for k = 1, #base do
      local function at(delta)
        local d = {}
        for i = 1, #base do d[i] = base[i] end
        d[k] = base[k] + delta
        local t = hub.tensor(nest(d, args[a].shape))
        local xs = { args[1], args[2], args[3], args[4] }
        xs[a] = t
        return loss(xs[1], xs[2], xs[3], xs[4]), flat(t)[k]
      end
      local lp, xp = at(EPS)
      local lm, xm = at(-EPS)
      local num = (lp - lm) / (xp - xm)
      local d = math.abs(num - g[k])
      maxd = math.max(maxd, d)
      if d > 2e-3 + 1e-2 * math.abs(g[k]) then good = false end
    end
    ok(good, "finite differences: d nll / d " .. names[a] .. string.format(" (max err %.2e)", maxd))
  end
end

-- ---- 3. against PyTorch (tests/fixtures/crf.json) ----
do
  local f = assert(io.open("fixtures/crf.json", "rb"), "cannot open fixtures/crf.json (run from tests/)")
  local doc = cjson.decode(f:read("*a"))
  f:close()
  for _, c in ipairs(doc.cases) do
    local B, L, C = c.B, c.L, c.C
    local em = hub.tensor(nest(c.emissions, { B, L, C })):requires_grad()
    local tr = hub.tensor(nest(c.transitions, { C, C })):requires_grad()
    local st = hub.tensor(c.start):requires_grad()
    local en = hub.tensor(c["end"]):requires_grad()
    local tags = hub.tensor(nest(c.tags, { B, L }), "i64")
    -- the mask form for even cases, lengths for odd ones: both must give the same
    local lm = c.lengths
    if #c.name % 2 == 0 then
      local m = {}
      for b = 1, B do m[b] = {} for t = 1, L do m[b][t] = t <= c.lengths[b] and 1 or 0 end end
      lm = hub.tensor(m, "u8")
    end
    local nll = hub.crf_nll(em, tags, lm, tr, st, en)
    nll:backward(hub.tensor(c.weights))
    local g1, d1 = close(flat(nll), c.nll, 1e-4, 1e-5)
    ok(g1, string.format("torch %s: nll (max err %.2e)", c.name, d1))
    for _, p in ipairs { { em, "grad_emissions" }, { tr, "grad_transitions" }, { st, "grad_start" }, { en, "grad_end" } } do
      local g, d = close(flat(p[1].grad), c[p[2]], 1e-4, 1e-5)
      ok(g, string.format("torch %s: %s (max err %.2e)", c.name, p[2], d))
    end
    ok(T.same(flat(hub.crf_decode(em, lm, tr, st, en)), c.path), "torch " .. c.name .. ": Viterbi path")
  end
end

-- ---- 4. forms of the lengths argument, strided inputs, threads ----
do
  local B, L, C = 3, 6, 4
  local em, tr, st, en = hub.randn(B, L, C), hub.randn(C, C), hub.randn(C), hub.randn(C)
  local tags = hub.randint(0, C, { B, L })
  local lens = { 6, 2, 4 }
  local m = {}
  for b = 1, B do m[b] = {} for t = 1, L do m[b][t] = t <= lens[b] end end
  local a = flat(hub.crf_nll(em, tags, lens, tr, st, en))
  local forms = {
    { hub.tensor(lens, "i64"), "lengths i64" }, { hub.tensor(lens, "i32"), "lengths i32" },
    { hub.tensor(m, "bool"), "mask bool" }, { hub.tensor(m, "bool"):to("f32"), "mask f32" },
  }
  for _, fm in ipairs(forms) do
    ok(T.same(flat(hub.crf_nll(em, tags, fm[1], tr, st, en)), a), "crf_nll with " .. fm[2] .. " = with a Lua array")
    ok(T.same(flat(hub.crf_decode(em, fm[1], tr, st, en)), flat(hub.crf_decode(em, lens, tr, st, en))),
      "crf_decode with " .. fm[2])
  end
  ok(T.same(flat(hub.crf_nll(em, tags, nil, tr, st, en)), flat(hub.crf_nll(em, tags, { 6, 6, 6 }, tr, st, en))),
    "nil lengths = every position")
  -- i32 tags, and a transposed emissions view and transitions view
  local emt = em:transpose(2, 3):contiguous():transpose(2, 3)
  local trt = tr:t():contiguous():t()
  ok(not emt:is_contiguous() and T.same(flat(hub.crf_nll(emt, tags:to("i32"), lens, trt, st, en)), a),
    "strided emissions/transitions and i32 tags give the same nll")
  -- the same decode as LAC's kernel called with the [C+2, C] table directly
  local tab = hub.concat({ st:reshape(1, C), en:reshape(1, C), tr }, 1)
  ok(T.same(flat(hub.crf_decode(em, lens, tr, st, en)), flat(hub.lac.crf_decode(em, tab, hub.tensor(lens, "i64")))),
    "crf_decode = hub.lac.crf_decode on the joined [C+2, C] table")
  -- gradients do not depend on the number of threads (per-sequence slices summed in order)
  local function grads(nt)
    local prev = hub.get_num_threads()
    hub.set_num_threads(nt)
    local e, t = em:clone():requires_grad(), tr:clone():requires_grad()
    hub.crf_nll(e, tags, lens, t, st, en):sum():backward()
    hub.set_num_threads(prev)
    return flat(e.grad), flat(t.grad)
  end
  local e1, t1 = grads(1)
  local e2, t2 = grads(3)
  ok(T.same(e1, e2) and T.same(t1, t2), "gradients identical with 1 and 3 threads")
  -- forbidden transitions: -1e4 and -inf give finite values and no NaN in the gradient
  local trf = tr:clone()
  trf:narrow(1, 1, 1):narrow(2, 2, 1):fill_(-math.huge)
  trf:narrow(1, 2, 1):narrow(2, 1, 1):fill_(-1e4)
  local tg = hub.tensor({ { 0, 0, 2, 3, 3, 1 }, { 2, 2, 0, 0, 0, 0 }, { 3, 2, 1, 1, 0, 0 } }, "i64")
  local e = em:clone():requires_grad()
  local trq = trf:clone():requires_grad()
  local nll = hub.crf_nll(e, tg, lens, trq, st, en)
  nll:sum():backward()
  local fin = true
  for _, v in ipairs(flat(nll)) do fin = fin and v == v and v < math.huge and v > -math.huge end
  for _, v in ipairs(flat(e.grad)) do fin = fin and v == v end
  for _, v in ipairs(flat(trq.grad)) do fin = fin and v == v end
  local gt = trq.grad:totable()
  ok(fin and math.abs(gt[1][2]) < 1e-12 and math.abs(gt[2][1]) < 1e-6,
    "-inf / -1e4 transitions: finite nll, no NaN, (almost) no gradient on the forbidden entries")
  local gold_bad = hub.crf_nll(em, hub.tensor({ { 0, 1, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 } }, "i64"), lens, trf, st, en)
  ok(flat(gold_bad)[1] == math.huge, "a gold path through a -inf transition has nll +inf")
  ok(flat(hub.crf_decode(em, lens, trf, st, en))[1] ~= nil, "decode with forbidden transitions runs")
end

-- empty batch, zero-length sequences only
do
  local nll = hub.crf_nll(hub.randn(0, 3, 2), hub.zeros({ 0, 3 }, "i64"), nil, hub.randn(2, 2), hub.randn(2), hub.randn(2))
  ok(nll.shape[1] == 0, "empty batch gives [0]")
  local em = hub.randn(2, 0, 2):requires_grad()
  local n2 = hub.crf_nll(em, hub.zeros({ 2, 0 }, "i64"), nil, hub.randn(2, 2), hub.randn(2), hub.randn(2))
  n2:sum():backward()
  ok(T.same(flat(n2), { 0, 0 }) and em.grad.shape[2] == 0, "L = 0: nll 0")
end

-- ---- 5. errors ----
do
  local em, tags, tr, st, en = hub.randn(2, 3, 4), hub.zeros({ 2, 3 }, "i64"), hub.randn(4, 4), hub.randn(4), hub.randn(4)
  T.errors(function() hub.crf_nll(hub.randn(3, 4), tags, nil, tr, st, en) end, "emissions must be [B, L, C]", "2-d emissions")
  T.errors(function() hub.crf_nll(hub.zeros({ 2, 3, 4 }, "i64"), tags, nil, tr, st, en) end, "emissions", "integer emissions")
  T.errors(function() hub.crf_nll(em, hub.zeros({ 2, 4 }, "i64"), nil, tr, st, en) end, "tags must be [B, L] = [2, 3]", "tags shape")
  T.errors(function() hub.crf_nll(em, hub.zeros({ 2, 3 }), nil, tr, st, en) end, "expected tags to be an i64 or i32", "float tags")
  T.errors(function() hub.crf_nll(em, hub.tensor({ { 0, 1, 4 }, { 0, 0, 0 } }, "i64"), nil, tr, st, en) end,
    "tags[0, 2] = 4 is outside 0..3", "tag too large")
  T.errors(function() hub.crf_nll(em, hub.tensor({ { 0, 1, 2 }, { 0, -1, 0 } }, "i64"), { 3, 3 }, tr, st, en) end,
    "tags[1, 1] = -1 is outside 0..3", "negative tag at a real position")
  ok(pcall(hub.crf_nll, em, hub.tensor({ { 0, 1, 2 }, { 0, -1, 9 } }, "i64"), { 3, 1 }, tr, st, en),
    "out-of-range tags at padded positions are ignored")
  T.errors(function() hub.crf_nll(em, tags, { 3, 4 }, tr, st, en) end, "lengths[1] = 4 is outside 0..3", "length too long")
  T.errors(function() hub.crf_nll(em, tags, { 3, -1 }, tr, st, en) end, "lengths[1] = -1 is outside", "negative length")
  T.errors(function() hub.crf_nll(em, tags, { 3, 3, 3 }, tr, st, en) end, "lengths must be [2]", "lengths shape")
  T.errors(function() hub.crf_nll(em, tags, { 3, "x" }, tr, st, en) end, "lengths as integers", "lengths with a string")
  T.errors(function() hub.crf_nll(em, tags, hub.ones(2, 4), tr, st, en) end, "mask must be [B, L] = [2, 3]", "mask shape")
  T.errors(function() hub.crf_nll(em, tags, hub.tensor({ { 1, 0, 1 }, { 1, 1, 1 } }), tr, st, en) end,
    "mask row 0 is not a prefix of ones", "mask with a hole")
  T.errors(function() hub.crf_nll(em, tags, nil, hub.randn(4, 3), st, en) end, "transitions must be [C, C] = [4, 4]", "transitions shape")
  T.errors(function() hub.crf_nll(em, tags, nil, tr, hub.randn(3), en) end, "start must be [C] = [4]", "start shape")
  T.errors(function() hub.crf_nll(em, tags, nil, tr, st, hub.randn(4, 1)) end, "end must be [C] = [4]", "end shape")
  T.errors(function() hub.crf_nll(em, tags, nil, tr, st) end, "bad argument #6 to 'crf_nll'", "missing end")
  T.errors(function() hub.crf_nll(em, tags, "all", tr, st, en) end, "bad argument #3 to 'crf_nll'", "lengths as a string")
  T.errors(function() hub.crf_decode(hub.randn(2, 3), nil, tr, st, en) end, "crf_decode: emissions must be [B, L, C]", "decode 2-d")
  T.errors(function() hub.crf_decode(em, { 3, 9 }, tr, st, en) end, "crf_decode: lengths[1] = 9 is outside", "decode length")
  T.errors(function() hub.crf_decode(em, nil, hub.randn(5, 5), st, en) end, "crf_decode: transitions must be [C, C]", "decode transitions")
end

-- ---- 6. nn.CRF ----
do
  local nn = hub.nn
  hub.manual_seed(7)
  local crf = nn.CRF(5)
  local names, shapes = {}, {}
  for name, p in crf:named_parameters() do names[#names + 1] = name; shapes[#shapes + 1] = table.concat(p.shape, "x") end
  ok(T.same(names, { "transitions", "start_transitions", "end_transitions" }) and T.same(shapes, { "5x5", "5", "5" }),
    "nn.CRF parameters: " .. table.concat(names, ", "))
  local inrange = true
  for _, v in ipairs(flat(crf.transitions)) do inrange = inrange and v >= -0.1 and v < 0.1 end
  ok(inrange, "nn.CRF transitions start in U(-0.1, 0.1)")
  local em, tags = hub.randn(3, 4, 5), hub.randint(0, 5, { 3, 4 })
  local mask = hub.tensor({ { 1, 1, 1, 1 }, { 1, 1, 0, 0 }, { 1, 0, 0, 0 } }, "bool")
  local per = crf:nll(em, tags, mask)
  ok(T.same(flat(per), flat(hub.crf_nll(em, tags, { 4, 2, 1 }, crf.transitions, crf.start_transitions, crf.end_transitions))),
    "CRF:nll = hub.crf_nll with its parameters")
  local s = flat(per)
  ok(math.abs(crf:nll(em, tags, mask, { reduction = "sum" }):item() - (s[1] + s[2] + s[3])) < 1e-4, "reduction sum")
  ok(math.abs(crf:nll(em, tags, mask, { reduction = "mean" }):item() - (s[1] + s[2] + s[3]) / 3) < 1e-4, "reduction mean")
  ok(T.same(flat(crf(em, tags, mask)), s), "calling the module is nll")
  T.errors(function() crf:nll(em, tags, mask, { reduction = "avg" }) end, "reduction must be 'none', 'sum' or 'mean'", "bad reduction")
  T.errors(function() nn.CRF(0) end, "positive integer", "CRF(0)")
  local path = crf:decode(em, mask):totable()
  ok(path[2][3] == -1 and path[3][2] == -1 and path[1][4] >= 0, "CRF:decode pads with -1")
  ok(tostring(crf):find("num_tags=5", 1, true) ~= nil, "CRF prints num_tags")

  -- training: emissions carry no information (zeros), the tags cycle 0 -> 1 -> 2 -> 0 after a
  -- start in 0; only the transitions and start scores can learn it, and decode must recover it
  local C, L = 3, 6
  local crf2 = nn.CRF(C)
  local opt = hub.optim.Adam(crf2:parameters(), { lr = 0.1 })
  local cyc = {}
  for t = 1, L do cyc[t] = (t - 1) % C end
  local tg = hub.tensor({ cyc, cyc }, "i64")
  local zeros = hub.zeros(2, L, C)
  local first, last
  for step = 1, 60 do
    opt:zero_grad()
    local loss = crf2:nll(zeros, tg, { L, 4 }, { reduction = "mean" })
    loss:backward()
    opt:step()
    if step == 1 then first = loss:item() end
    last = loss:item()
  end
  local dec = crf2:decode(zeros, { L, 4 }):totable()
  ok(last < 0.1 * first and T.same(dec[1], cyc) and T.same(dec[2], { 0, 1, 2, 0, -1, -1 }),
    string.format("nn.CRF learns a cyclic tag pattern (nll %.3f -> %.4f), decode recovers it", first, last))
end

T.finish()
