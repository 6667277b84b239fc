-- Golden equivalence of hubrun's BERT-family encoder with Hugging Face transformers.
--
-- For every case in fixtures/ernie/ (made by scripts/gen_ernie_fixtures.py with Hugging Face's
-- own BertModel / ErnieModel, in float64): the checkpoint is converted with the real
-- `hubrun convert hf` command into a temporary directory, loaded with hub.module(dir), and
--   * the tokenizer (the module's, on the fixture's vocab.txt) must give exactly the token ids
--     BertTokenizerFast gave;
--   * sequence_output and pooled_output for every batch must match within 1e-4 relative
--     (max |hubrun - reference| / max |reference|, per tensor);
--   * the gradient of loss = sum(seq * r_seq) + sum(pooled * r_pool) with respect to every
--     parameter must match within 1e-4 relative (the fused qkv compared block by block with
--     query / key / value, the word embeddings on the rows of the ids used);
--   * m:embed and m:predict agree with the reference, m:context gives a trainable network.
-- Then the error paths of the converter: a missing tensor, an unknown tensor, a mis-shaped
-- tensor, pytorch_model.bin only, an existing output; and a --dtype f16 conversion.
-- Prints the maximum absolute and relative errors of every comparison.
local hub = require "hub"
local cjson = require "cjson"
local convert = require "hub.convert"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local FIX = "fixtures/ernie"
local TOL = 1e-4
local tmp = io.popen("mktemp -d /tmp/hub_ernie_XXXXXX"):read("*l")

local failures, checks = 0, 0
local function check(ok, msg)
  checks = checks + 1
  if not ok then failures = failures + 1; print("FAIL: " .. msg) end
end

local function read_file(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- runs `hubrun ARGS`; returns the exit status, stdout and stderr
local function hubrun(args)
  local cmd = string.format("%s %s >%s/out 2>%s/err; echo $?", q(HUBRUN), args, tmp, tmp)
  local rc = tonumber(io.popen(cmd):read("*l"))
  return rc, read_file(tmp .. "/out"), read_file(tmp .. "/err")
end

-- max |a - b| and that over max |b|
local function errors(a, b)
  a, b = a:to("f32"), b:to("f32")
  local abs = (a - b):abs():max():item()
  local scale = b:abs():max():item()
  return abs, abs / math.max(scale, 1e-30)
end

local worst = {}
local function compare(case, what, a, b)
  local sa, sb = table.concat(a.shape, ","), table.concat(b.shape, ",")
  if sa ~= sb then check(false, string.format("%s %s: shape [%s], expected [%s]", case, what, sa, sb)) return end
  local abs, rel = errors(a, b)
  check(rel < TOL, string.format("%s %s: relative error %.3g (max abs %.3g) > %g", case, what, rel, abs, TOL))
  local w = worst[case] or { abs = 0, rel = 0, gabs = 0, grel = 0 }
  worst[case] = w
  if what:match("^grad") then
    w.gabs, w.grel = math.max(w.gabs, abs), math.max(w.grel, rel)
  else
    w.abs, w.rel = math.max(w.abs, abs), math.max(w.rel, rel)
  end
  return abs, rel
end

local function ids(t) return hub.tensor(t, "i64") end

local function inputs_of(b)
  local x = { input_ids = ids(b.input_ids), token_type_ids = ids(b.token_type_ids), attention_mask = ids(b.attention_mask) }
  if b.task_type_ids then x.task_type_ids = ids(b.task_type_ids) end
  if b.position_ids then x.position_ids = ids(b.position_ids) end
  return x
end

local function items_of(b)
  local items = {}
  for i, t in ipairs(b.texts) do items[i] = type(t) == "table" and { t[1], t[2] } or t end
  return items
end

local function same_ids(a, b)
  local ta, n = a:totable(), 0
  for i = 1, #b do for j = 1, #b[i] do if ta[i][j] ~= b[i][j] then n = n + 1 end end end
  return n
end

local function run_case(case)
  local src = FIX .. "/" .. case
  local out = tmp .. "/" .. case
  local rc, _, err = hubrun(string.format("convert hf %s --name %s --output %s -q", q(src), case:gsub("_", "-"), q(out)))
  check(rc == 0, case .. ": convert failed: " .. err)
  if rc ~= 0 then return end
  local m = hub.module(out)
  require("hub.store").verify(out, m.manifest)     -- every sha256 and size as module.json says
  local model, tk = m.model, m.tokenizer
  local exp = cjson.decode(read_file(src .. "/expected.json"))
  local pad_id = cjson.decode(read_file(src .. "/config.json")).pad_token_id or 0
  local ref = hub.load(src .. "/expected.safetensors")
  check(model.config.use_task_id == exp.use_task_id, case .. ": use_task_id")
  check((model.pooler ~= nil) == exp.has_pooler, case .. ": pooler presence")

  for _, b in ipairs(exp.batches) do
    local name = case .. "/" .. b.name
    if b.texts then   -- the module's tokenizer gives BertTokenizerFast's ids
      local e = tk:encode_batch(items_of(b), { max_seq_len = b.max_seq_len })
      for _, k in ipairs { "input_ids", "token_type_ids", "attention_mask" } do
        local n = same_ids(e[k], b[k])
        check(n == 0, string.format("%s: %s differ from the Hugging Face tokenizer in %d places", name, k, n))
      end
    end
    local o = hub.no_grad(function() return model:forward(inputs_of(b)) end)
    local a1, r1 = compare(case, b.name .. " sequence_output", o.sequence_output, ref[b.name .. ".sequence_output"])
    local line = string.format("  %-34s [%s]  sequence max abs %.2e rel %.2e", name, table.concat(b.shape, "x"), a1 or -1, r1 or -1)
    if exp.has_pooler then
      local a2, r2 = compare(case, b.name .. " pooled_output", o.pooled_output, ref[b.name .. ".pooled_output"])
      line = line .. string.format("  pooled max abs %.2e rel %.2e", a2 or -1, r2 or -1)
    else
      check(o.pooled_output == nil, name .. ": a model without pooler gives no pooled_output")
    end
    print(line)
    -- the module's embed: tokenization + forward + pooled (or [CLS]) in one call
    if b.texts and not b.task_type_ids and not b.position_ids then
      local pooled, seq, eb = m:embed(items_of(b), { max_seq_len = b.max_seq_len, batch_size = 2 })
      -- embed runs length-sorted, dynamically padded batches: its sequence output is zero past
      -- each text's tokens, so it is compared with the reference's on the tokens
      local ref_seq = ref[b.name .. ".sequence_output"]
      local mask3 = eb.attention_mask:to("f32"):reshape(ref_seq.shape[1], ref_seq.shape[2], 1)
      compare(case, b.name .. " embed sequence", seq, ref_seq:to("f32") * mask3)
      local want = exp.has_pooler and ref[b.name .. ".pooled_output"] or ref[b.name .. ".sequence_output"]:select(2, 1)
      compare(case, b.name .. " embed pooled", pooled, want)
      -- padding = "longest": as long as the longest text of the batch, the same values there
      local lp, ls, lb = m:embed(items_of(b), { max_seq_len = b.max_seq_len, padding = "longest" })
      local longest = 0
      for _, row in ipairs(b.attention_mask) do
        local n = 0
        for _, v in ipairs(row) do n = n + v end
        longest = math.max(longest, n)
      end
      check(ls:size(2) == longest and lb.input_ids:size(2) == longest,
        string.format("%s: embed{padding = 'longest'} gives length %d, the longest text has %d tokens", name, ls:size(2), longest))
      local lmask3 = lb.attention_mask:to("f32"):reshape(ls:size(1), longest, 1)
      compare(case, b.name .. " embed longest sequence", ls,
        ref[b.name .. ".sequence_output"]:narrow(2, 1, longest):contiguous():to("f32") * lmask3)
      compare(case, b.name .. " embed longest pooled", lp, want)
    end
  end

  -- the same module loaded on cuda (the GPU, or the stand-in device that ctest turns on with
  -- HUB_CUDA_STANDIN=1): the forward against the same reference, and embed's vectors
  if hub.cuda.is_available() then
    local mg = hub.module(out, { device = "cuda" })
    for _, b in ipairs(exp.batches) do
      local x = inputs_of(b)
      for k, v in pairs(x) do x[k] = v:to("cuda") end
      local o = hub.no_grad(function() return mg.model:forward(x) end)
      check(o.sequence_output.device == "cuda", case .. "/" .. b.name .. ": the cuda forward stays on cuda")
      compare(case, b.name .. " sequence_output on cuda", o.sequence_output:cpu(), ref[b.name .. ".sequence_output"])
      if exp.has_pooler then compare(case, b.name .. " pooled_output on cuda", o.pooled_output:cpu(), ref[b.name .. ".pooled_output"]) end
      if b.texts and not b.task_type_ids and not b.position_ids then
        local pc = m:embed(items_of(b), { max_seq_len = b.max_seq_len, batch_size = 2 })
        local pg = mg:embed(items_of(b), { max_seq_len = b.max_seq_len, batch_size = 2 })
        check(pg.device == "cpu", case .. ": embed on cuda gives its vectors on the cpu")
        compare(case, b.name .. " embed pooled on cuda", pg, pc)
      end
    end
    print(string.format("  %-34s on cuda (%s)", case, hub.cuda.device_name(1):match("^[^(]*")))
  end

  -- options are checked: a misspelt key or a wrong type is an error naming the allowed keys
  local okp, perr = pcall(m.embed, m, { "text" }, { padding = "longest", max_seq_lenn = 8 })
  check(not okp and tostring(perr):find("embed: unknown option 'max_seq_lenn' (expected one of batch_size, max_seq_len, padding, sequence)", 1, true),
    case .. ": embed with an unknown option: " .. tostring(perr))
  okp, perr = pcall(m.predict, m, { "text" }, { batch_size = "2" })
  check(not okp and tostring(perr):find("predict: option 'batch_size' must be an integer, got string 2", 1, true),
    case .. ": predict with a string batch_size: " .. tostring(perr))

  -- gradients of the fixed loss, in eval mode (no dropout)
  local gb
  for _, b in ipairs(exp.batches) do if b.name == exp.grad_batch then gb = b end end
  local function needs_grad(t) return hub.C.hub_tensor_requires_grad(t) ~= 0 end
  check(not needs_grad(model.embeddings.word_embeddings.weight), case .. ": a loaded module's weights are frozen")
  local shared_w = model.embeddings.word_embeddings.weight
  model = m:context { trainable = true }.network    -- private, trainable copies of the weights
  check(model.embeddings.word_embeddings.weight ~= shared_w and needs_grad(model.embeddings.word_embeddings.weight),
    case .. ": context{trainable} copies the shared weights")
  model:eval()
  model:zero_grad()
  local o = model:forward(inputs_of(gb))
  local loss = (o.sequence_output * ref["loss.r_seq"]):sum()
  if o.pooled_output then loss = loss + (o.pooled_output * ref["loss.r_pool"]):sum() end
  loss:backward()
  local lv = loss:item()
  check(math.abs(lv - exp.loss) <= TOL * math.max(1, math.abs(exp.loss)),
    string.format("%s: loss %.8g, expected %.8g", case, lv, exp.loss))
  local params = {}
  for n, p in model:named_parameters() do params[n] = p end
  local H, ngrads = model.config.hidden_size, 0
  for key, g in pairs(ref) do
    local kind, hf = key:match("^(grad[_rows]*)%.(.*)$")
    if kind then
      local hn, part = convert.hubrun_name(convert.canonical(hf))
      local p = hn and params[hn]
      check(p ~= nil and p.grad ~= nil, case .. ": no parameter / gradient for " .. hf)
      if p and p.grad then
        local mine = p.grad
        if part then mine = mine:narrow(1, (part - 1) * H + 1, H) end
        if kind == "grad_rows" then
          -- the fixture holds the rows of the word embedding gradient that the inputs use,
          -- [PAD] included (padding_idx = pad_token_id: no gradient in Hugging Face, none here)
          local rows = exp.grad_rows[hf]
          local sel, padrow = {}, nil
          for i, id in ipairs(rows) do
            sel[i] = id
            if id == pad_id then padrow = i end
          end
          mine = mine:index_select(1, ids(sel))
          if padrow then
            local pg = mine:narrow(1, padrow, 1):abs():max():item()
            check(pg == 0 and g:narrow(1, padrow, 1):abs():max():item() == 0,
              string.format("%s: the [PAD] row (id %d) gets no gradient (max abs %.3g)", case, pad_id, pg))
          end
        end
        if g:abs():max():item() < 1e-6 then
          -- an analytically zero gradient (the key bias: softmax ignores a constant per row)
          local abs = mine:abs():max():item()
          check(abs < 1e-4, string.format("%s grad %s: should be 0, max abs %.3g", case, hf, abs))
        else
          compare(case, "grad " .. hf, mine, g)
        end
        ngrads = ngrads + 1
      end
    end
  end
  check(ngrads > 20, case .. ": too few gradients compared")
  local w = worst[case]
  print(string.format("  %-34s loss %.6g (ref %.6g); %d parameter gradients: max abs %.2e rel %.2e", case .. "/grad " .. gb.name,
    lv, exp.loss, ngrads, w.gabs, w.grel))

  -- predict (plain tables, tokens only) agrees with embed
  local r = m:predict({ "北京是中国的首都" })
  local pooled, _, enc = m:embed({ "北京是中国的首都" })
  local ntok = enc.attention_mask:sum():item()
  check(#r == 1 and #r[1].sequence_output == ntok and #r[1].pooled_output == H, case .. ": predict shape")
  check(math.abs(r[1].pooled_output[1] - pooled:totable()[1][1]) < 1e-6, case .. ": predict vs embed")

  -- context: the network and tokenizer for fine-tuning
  local ctx = m:context { max_seq_len = 16, trainable = true }
  check(ctx.network == model and ctx.tokenizer == tk and ctx.max_seq_len == 16 and ctx.hidden_size == H, case .. ": context fields")
  check(ctx.network.training == true, case .. ": context trainable puts the network in training mode")
  local batch = ctx.encode({ "今天天气很好", { "这部电影好看吗？", "非常好看" } })
  check(batch.input_ids.shape[2] == 16, case .. ": context encode uses max_seq_len")
  ctx.network:zero_grad()
  local co = ctx.network:forward { input_ids = batch.input_ids, token_type_ids = batch.token_type_ids, attention_mask = batch.attention_mask }
  ;(co.pooled_output or co.sequence_output):sum():backward()
  check(params["embeddings.layer_norm.weight"].grad ~= nil, case .. ": context network trains")
  local frozen = m:context { trainable = false }
  check(frozen.network.training == false, case .. ": trainable = false is eval mode")
  local ok = pcall(function() return m:context { max_seq_len = 100000 } end)
  check(not ok, case .. ": context rejects max_seq_len beyond max_position_embeddings")
  m:context { trainable = true }
  model:eval()
end

local cases = { "bert_gelu", "ernie1_relu", "ernie3_task", "odd_shapes" }
print("hubrun vs Hugging Face (float64 reference), tolerance " .. TOL .. " relative:")
for _, c in ipairs(cases) do run_case(c) end

-- ---- converter errors ----

-- a Hugging Face directory made from a fixture with its tensors edited
local function edited(name, edit)
  local d = tmp .. "/" .. name
  os.execute("mkdir -p " .. q(d))
  local src = FIX .. "/bert_gelu"
  for _, f in ipairs { "config.json", "vocab.txt" } do
    local fh = assert(io.open(d .. "/" .. f, "wb")); fh:write(read_file(src .. "/" .. f)); fh:close()
  end
  local t = hub.load(src .. "/model.safetensors")
  edit(t)
  hub.save(d .. "/model.safetensors", t)
  return d
end

local function expect_fail(args, pattern, what)
  local rc, _, err = hubrun(args)
  check(rc == 1 and err:find(pattern, 1, true) ~= nil,
    string.format("%s: expected status 1 and '%s', got %d: %s", what, pattern, rc, err))
  print(string.format("  %-20s -> %s", what, (err:gsub("\n.*", ""):sub(1, 150))))
end

print("converter errors:")
local d = edited("missing", function(t) t["bert.encoder.layer.1.attention.self.key.weight"] = nil end)
expect_fail("convert hf " .. q(d) .. " --name x -o " .. q(tmp .. "/o1"),
  "missing tensors: encoder.layer.1.attention.self.key.weight", "missing tensor")
d = edited("unknown", function(t) t["bert.encoder.layer.0.attention.self.rotary.weight"] = hub.zeros(2) end)
expect_fail("convert hf " .. q(d) .. " --name x -o " .. q(tmp .. "/o2"),
  "unknown tensors: bert.encoder.layer.0.attention.self.rotary.weight", "unknown tensor")
d = edited("shape", function(t)
  t["bert.pooler.dense.bias"] = t["bert.pooler.dense.bias"]:narrow(1, 1, 30):contiguous()
end)
expect_fail("convert hf " .. q(d) .. " --name x -o " .. q(tmp .. "/o3"),
  "bert.pooler.dense.bias is [30], the config implies [32]", "mis-shaped tensor")
expect_fail("convert hf " .. q(FIX .. "/pytorch_bin_only") .. " --name x -o " .. q(tmp .. "/o4"),
  "has pytorch_model.bin but no model.safetensors", "pytorch_model.bin")
expect_fail("convert hf " .. q(FIX .. "/bert_gelu") .. " --name x -o " .. q(tmp .. "/bert_gelu"),
  "already exists (--force replaces it)", "existing output")
expect_fail("convert hf " .. q(FIX .. "/bert_gelu") .. " --name 'bad name' -o " .. q(tmp .. "/o5"),
  "is not a module name", "bad name")
expect_fail("convert hf " .. q(tmp .. "/nowhere") .. " --name x", "is not a directory", "no directory")
expect_fail("convert tf " .. q(FIX .. "/bert_gelu") .. " --name x", "unknown format 'tf' (hf or to-hf)", "unknown format")
for _, o in ipairs { "o1", "o2", "o3", "o4", "o5" } do
  check(io.open(tmp .. "/" .. o .. "/module.json") == nil, "a failed conversion left " .. o .. " behind")
end
local rc, help = hubrun("convert --help")
check(rc == 0 and help:find("hubrun convert hf DIR", 1, true) ~= nil, "convert --help")

-- --dtype f16: half the size, outputs within f16 rounding
do
  local out = tmp .. "/bert_f16"
  local rc2, _, err = hubrun(string.format("convert hf %s --name bert-f16 --dtype f16 -o %s -q", q(FIX .. "/bert_gelu"), q(out)))
  check(rc2 == 0, "f16 convert: " .. err)
  local w = hub.load(out .. "/model.safetensors")
  check(w["encoder.layers.0.attn.qkv.weight"].dtype == "f16", "f16 convert writes f16 weights")
  local m = hub.module(out)
  local exp = cjson.decode(read_file(FIX .. "/bert_gelu/expected.json"))
  local ref = hub.load(FIX .. "/bert_gelu/expected.safetensors")
  local b = exp.batches[1]
  local o = hub.no_grad(function() return m.model:forward(inputs_of(b)) end)
  local abs, rel = errors(o.sequence_output, ref[b.name .. ".sequence_output"])
  check(rel < 2e-2, string.format("f16 module: relative error %.3g", rel))
  print(string.format("  %-34s sequence max abs %.2e rel %.2e (f16 weights)", "bert_gelu/" .. b.name .. " f16", abs, rel))
end

-- ---- a converted module installs, loads by name and runs from the command line ----
do
  local home = tmp .. "/home"
  local env = "HUB_HOME=" .. q(home) .. " HUB_OFFLINE=1 "
  local rc2, _, err = hubrun(string.format("convert hf %s --name tiny-ernie3 --version 0.2.0 -o %s -q",
    q(FIX .. "/ernie3_task"), q(tmp .. "/tiny")))
  check(rc2 == 0, "convert for install: " .. err)
  local cmd = string.format("%s%s install %s >%s/out 2>%s/err; echo $?", env, q(HUBRUN), q(tmp .. "/tiny"), tmp, tmp)
  check(tonumber(io.popen(cmd):read("*l")) == 0, "install a converted module: " .. read_file(tmp .. "/err"))
  cmd = string.format("%s%s run tiny-ernie3 --input_text %s >%s/out 2>%s/err; echo $?", env, q(HUBRUN),
    q("北京是中国的首都"), tmp, tmp)
  local rc3 = tonumber(io.popen(cmd):read("*l"))
  local text = read_file(tmp .. "/out")
  check(rc3 == 0 and text:find("pooled_output [40]", 1, true) ~= nil, "hubrun run: " .. text .. read_file(tmp .. "/err"))
  print("  hubrun run tiny-ernie3: " .. text:gsub("\n$", ""))
  local code = string.format([[local hub = require "hub"
    local m = hub.module "tiny-ernie3"
    local p = m:embed{ "北京是中国的首都" }
    io.write(m.version, " ", p.shape[2])]])
  local f = assert(io.open(tmp .. "/byname.lua", "wb")); f:write(code); f:close()
  cmd = string.format("%s%s %s >%s/out 2>%s/err; echo $?", env, q(HUBRUN), q(tmp .. "/byname.lua"), tmp, tmp)
  local rc4 = tonumber(io.popen(cmd):read("*l"))
  check(rc4 == 0 and read_file(tmp .. "/out") == "0.2.0 40", "hub.module by name: " .. read_file(tmp .. "/out") .. read_file(tmp .. "/err"))
end

-- ---- the network's own checks ----
do
  local ernie = hub.models.ernie
  local base = { vocab_size = 50, hidden_size = 12, num_hidden_layers = 1, num_attention_heads = 3, intermediate_size = 20 }
  local function cfg(extra)
    local c = {}
    for k, v in pairs(base) do c[k] = v end
    for k, v in pairs(extra) do c[k] = v end
    return c
  end
  local function expect_error(fn, pattern, what)
    local ok, e = pcall(fn)
    check(not ok and tostring(e):find(pattern, 1, true) ~= nil, string.format("%s: expected '%s', got %s", what, pattern, tostring(e)))
  end
  expect_error(function() ernie(cfg { hidden_act = "swish" }) end, "hidden_act 'swish' is not supported", "bad activation")
  expect_error(function() ernie(cfg { num_attention_heads = 5 }) end, "not a multiple of num_attention_heads 5", "bad heads")
  expect_error(function() ernie(cfg { vocab_size = false }) end, "'vocab_size' must be an integer", "bad vocab")
  expect_error(function() ernie(cfg { position_embedding_type = "relative_key" }) end, "only absolute positions", "relative positions")
  local m = ernie(cfg { max_position_embeddings = 8 })
  expect_error(function() m:forward { input_ids = { { 1, 2 } }, task_type_ids = { { 0, 0 } } } end,
    "task_type_ids given but the model has no task type embeddings", "task ids without use_task_id")
  expect_error(function() m:forward { input_ids = { 1, 2, 3, 4, 5, 6, 7, 8, 9 } } end,
    "sequence length 9 is longer than max_position_embeddings 8", "too long")
  expect_error(function() m:forward { input_ids = { { 1, 2 } }, token_type_ids = { { 0, 2 } } } end,
    "token_type_ids has ids in [0, 2], outside [0, 2)", "token type out of range")
  expect_error(function() m:forward { input_ids = { { 1, 2 } }, mask = { { 1, 1 } } } end, "unknown input 'mask'", "unknown input")
  expect_error(function() m:forward { input_ids = { { 1, 2 } }, attention_mask = { { 1, 1, 1 } } } end,
    "attention_mask is [1,3] but input_ids is [1,2]", "mask shape")
  -- a 1-d input is one sequence; dropout acts in training mode only
  local x = { input_ids = { 3, 4, 5 } }
  local e1 = hub.no_grad(function() return m:eval():forward(x).sequence_output end)
  check(e1.shape[1] == 1 and e1.shape[2] == 3, "1-d input_ids is [1, L]")
  local t1 = hub.no_grad(function() return m:train():forward(x).sequence_output end)
  check(errors(t1, e1) > 1e-3, "training mode applies dropout")
end

print("summary (max over batches / parameters):")
for _, c in ipairs(cases) do
  local w = worst[c]
  if w then
    print(string.format("  %-12s outputs max abs %.2e rel %.2e   gradients max abs %.2e rel %.2e", c, w.abs, w.rel, w.gabs, w.grel))
  end
end
os.execute("rm -rf " .. q(tmp))
print(string.format("%d checks, %d failures", checks, failures))
if failures > 0 then os.exit(1) end
