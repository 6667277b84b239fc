-- `hubrun convert to-hf` (lua/hub/convert_to_hf.lua) against checkpoints that transformers itself
-- wrote.
--
-- fixtures/to_hf/ (scripts/gen_to_hf_fixture.py: a tiny random BertModel with a pooler, three
-- token types and config values away from the defaults, saved by transformers' save_pretrained,
-- and BertModel's outputs on a padded batch, run in float64): the real `hubrun convert hf` makes
-- a module of it, whose outputs must equal BertModel's; `hubrun convert to-hf` of that module
-- must give back the original: every config field, every tensor (its Hugging Face name under
-- "bert.", shape and value, bit for bit), the vocabulary and the lower-casing.
-- fixtures/ernie_mlm/ (scripts/gen_mlm_fixtures.py: a BertForMaskedLM) the same way: the
-- masked-LM head comes back as cls.predictions.* and the config names BertForMaskedLM.
-- A fine-tuned classifier exported by task:export comes back as BertForSequenceClassification
-- with its classifier and label names.
-- Errors: a module without an encoder (a hand-made one, and lac when it is built), an existing
-- --out without --force (nothing written, nothing left behind), --force replacing it, and a
-- missing --out.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, q = T.ok, T.q
local hub = require "hub"
local cjson = require "cjson"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local FIX = "fixtures/to_hf"
local tmp = io.popen("mktemp -d /tmp/hub_to_hf_XXXXXX"):read("*l")

local function run(args)
  local r = os.execute(q(HUBRUN) .. " " .. args .. " >" .. tmp .. "/out 2>" .. tmp .. "/err")
  return r == 0 or r == true, (T.read_file(tmp .. "/out") or "") .. (T.read_file(tmp .. "/err") or "")
end
local function json_file(p) return cjson.decode((assert(T.read_file(p), "cannot read " .. p))) end
local function listing(dir)
  local names = {}
  for l in io.popen("ls -A " .. q(dir) .. " 2>/dev/null"):lines() do names[#names + 1] = l end
  table.sort(names)
  return table.concat(names, " ")
end

local function max_abs(a, b) return (a:to("f32") - b:to("f32")):abs():max():item() end
local function shape(t) return table.concat(t.shape, ",") end

-- every tensor of `orig` (Hugging Face's own file) is in `got` (to-hf's) under name_of(name),
-- with the same shape and dtype and the same values bit for bit; nothing else is in `got`
local function same_tensors(what, orig, got, name_of)
  local n, seen = 0, {}
  for name, t in pairs(orig) do
    local g = got[name_of(name)]
    seen[name_of(name)] = true
    if not g then ok(false, what .. ": " .. name .. " is missing (as " .. name_of(name) .. ")")
    elseif shape(g) ~= shape(t) then ok(false, string.format("%s: %s is [%s], the original [%s]", what, name, shape(g), shape(t)))
    else
      ok(g.dtype == "f32", what .. ": " .. name .. " is f32")
      local d = max_abs(g, t)
      ok(d == 0, string.format("%s: %s equals the original (max abs difference %.3g)", what, name, d))
      n = n + 1
    end
  end
  local extra = {}
  for name in pairs(got) do if not seen[name] then extra[#extra + 1] = name end end
  table.sort(extra)
  ok(#extra == 0, what .. ": no tensor beyond the original's", table.concat(extra, ", "))
  return n
end

local CONFIG_FIELDS = { "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
  "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
  "initializer_range", "layer_norm_eps", "pad_token_id", "model_type" }

local function same_config(what, orig, got)
  for _, k in ipairs(CONFIG_FIELDS) do
    ok(orig[k] ~= nil, what .. ": the original config has " .. k)
    ok(got[k] == orig[k], string.format("%s: config %s = %s, the original %s", what, k, tostring(got[k]), tostring(orig[k])))
  end
  -- transformers 5 leaves position_embedding_type out (absolute is all there is)
  ok((orig.position_embedding_type or "absolute") == "absolute" and got.position_embedding_type == "absolute",
    what .. ": position_embedding_type absolute")
end

-- ---- 1. BertModel: hf -> module -> hf ----
local mod = tmp .. "/mod"
local good, outp = run("convert hf " .. FIX .. " --name to-hf-test --output " .. q(mod))
ok(good, "convert hf of the BertModel fixture", outp)

-- the module computes what BertModel computes
local exp = json_file(FIX .. "/expected.json")
local ref = hub.load(FIX .. "/expected.safetensors")
local m = hub.module(mod)
local net = m:context { trainable = false }.network
net:eval()
local o = net:forward { input_ids = hub.tensor(exp.input_ids, "i64"), token_type_ids = hub.tensor(exp.token_type_ids, "i64"),
                        attention_mask = hub.tensor(exp.attention_mask, "i64") }
for _, k in ipairs { "sequence_output", "pooled_output" } do
  ok(o[k] and shape(o[k]) == shape(ref[k]), k .. " has BertModel's shape [" .. shape(ref[k]) .. "]")
  if o[k] and shape(o[k]) == shape(ref[k]) then
    local d = max_abs(o[k], ref[k])
    ok(d < 2e-5, string.format("the module's %s equals BertModel's (max abs difference %.3g)", k, d))
  end
end

local hf = tmp .. "/hf"
good, outp = run("convert to-hf " .. q(mod) .. " --out " .. q(hf))
ok(good, "convert to-hf of the module", outp)
ok(outp:find("BertModel", 1, true) and outp:find("2 layers", 1, true) and outp:find("pooler", 1, true),
  "convert to-hf says what it wrote", outp)
ok(listing(hf) == "config.json model.safetensors special_tokens_map.json tokenizer_config.json vocab.txt",
  "the Hugging Face directory holds config, weights, vocabulary and tokenizer files", listing(hf))
ok(listing(tmp):find("tmp-", 1, true) == nil, "no temporary directory is left behind", listing(tmp))
local oc, gc = json_file(FIX .. "/config.json"), json_file(hf .. "/config.json")
same_config("BertModel", oc, gc)
ok(type(gc.architectures) == "table" and gc.architectures[1] == "BertModel" and #gc.architectures == 1,
  "architectures = {BertModel}", tostring(gc.architectures and gc.architectures[1]))
ok(gc.num_labels == nil, "no num_labels without a classifier")
local orig = hub.load(FIX .. "/model.safetensors")
local got = hub.load(hf .. "/model.safetensors")
local n = same_tensors("BertModel", orig, got, function(k) return "bert." .. k end)
ok(n == 5 + 16 * 2 + 2, string.format("all %d tensors of a 2-layer BertModel with a pooler compared", n))
ok(T.read_file(hf .. "/vocab.txt") == T.read_file(FIX .. "/vocab.txt"), "vocab.txt is the original's, byte for byte")
local tk = json_file(hf .. "/tokenizer_config.json")
ok(tk.do_lower_case == true and tk.tokenizer_class == "BertTokenizer", "tokenizer_config: BertTokenizer, do_lower_case")
local sp = json_file(hf .. "/special_tokens_map.json")
ok(sp.cls_token == "[CLS]" and sp.sep_token == "[SEP]" and sp.pad_token == "[PAD]" and sp.mask_token == "[MASK]"
   and sp.unk_token == "[UNK]", "special_tokens_map names BERT's five special tokens")
-- the written directory is itself a Hugging Face checkpoint that `convert hf` reads back the same
good, outp = run("convert hf " .. q(hf) .. " --name to-hf-again --output " .. q(tmp .. "/mod2"))
ok(good, "convert hf reads the to-hf directory", outp)
if good then
  local a, b = hub.load(mod .. "/model.safetensors"), hub.load(tmp .. "/mod2/model.safetensors")
  same_tensors("module -> hf -> module", a, b, function(k) return k end)
end

-- ---- 2. BertForMaskedLM: the head comes back as cls.predictions.* ----
local MLM = "fixtures/ernie_mlm"
good, outp = run("convert hf " .. MLM .. " --name mlm-test --output " .. q(tmp .. "/mlm"))
ok(good, "convert hf of the BertForMaskedLM fixture", outp)
good, outp = run("convert to-hf " .. q(tmp .. "/mlm") .. " --out " .. q(tmp .. "/mlm-hf"))
ok(good, "convert to-hf of a module with a masked-LM head", outp)
if good then
  ok(outp:find("masked-LM head", 1, true), "convert to-hf says it wrote the masked-LM head", outp)
  local mc = json_file(tmp .. "/mlm-hf/config.json")
  same_config("BertForMaskedLM", json_file(MLM .. "/config.json"), mc)
  ok(mc.architectures and mc.architectures[1] == "BertForMaskedLM", "architectures = {BertForMaskedLM}")
  ok(mc.tie_word_embeddings ~= false, "the decoder is tied to the word embeddings (not stored)")
  local mo, mg = hub.load(MLM .. "/model.safetensors"), hub.load(tmp .. "/mlm-hf/model.safetensors")
  ok(mo["cls.predictions.bias"] ~= nil and mg["cls.predictions.transform.dense.weight"] ~= nil,
    "the head is there as cls.predictions.*")
  same_tensors("BertForMaskedLM", mo, mg, function(k) return k end)
end

-- ---- 3. a fine-tuned classifier (task:export) -> BertForSequenceClassification ----
local task = hub.task.text_classification { module = mod, labels = { "neg", "neu", "pos" }, max_seq_len = 16 }
local H = oc.hidden_size
local w = hub.arange(3 * H):reshape { 3, H }:to("f32") * 0.01 - 0.5
local b = hub.tensor({ 0.25, -0.5, 0.125 }, "f32")
task.classifier.weight:copy_(w)
task.classifier.bias:copy_(b)
local cls_dir = tmp .. "/cls"
task:export { name = "to-hf-cls", dir = cls_dir }
good, outp = run("convert to-hf " .. q(cls_dir) .. " --out " .. q(tmp .. "/cls-hf"))
ok(good, "convert to-hf of an exported classifier", outp)
if good then
  ok(outp:find("classifier of 3 labels", 1, true), "convert to-hf says it wrote a classifier of 3 labels", outp)
  local cc = json_file(tmp .. "/cls-hf/config.json")
  same_config("BertForSequenceClassification", oc, cc)
  ok(cc.architectures and cc.architectures[1] == "BertForSequenceClassification", "architectures = {BertForSequenceClassification}")
  ok(cc.num_labels == 3, "num_labels = 3")
  ok(cc.id2label and cc.id2label["0"] == "neg" and cc.id2label["1"] == "neu" and cc.id2label["2"] == "pos",
    "id2label holds the task's label names", cjson.encode(cc.id2label or {}))
  ok(cc.label2id and cc.label2id.neg == 0 and cc.label2id.pos == 2, "label2id holds the task's label names")
  local cg = hub.load(tmp .. "/cls-hf/model.safetensors")
  local expect = {}
  for k, t in pairs(orig) do expect["bert." .. k] = t end
  expect["classifier.weight"], expect["classifier.bias"] = w, b
  same_tensors("BertForSequenceClassification", expect, cg, function(k) return k end)
end

-- ---- 4. errors ----
-- a module without an encoder (the converted one with config.model taken out)
local fake = tmp .. "/not-an-encoder"
os.execute("cp -r " .. q(mod) .. " " .. q(fake))
local man = json_file(mod .. "/module.json")
man.name, man.config.model = "not-an-encoder", nil
T.write_file(fake .. "/module.json", cjson.encode(man))
good, outp = run("convert to-hf " .. q(fake) .. " --out " .. q(tmp .. "/fake-hf"))
ok(not good and outp:find("not a BERT/ERNIE encoder module", 1, true) and outp:find("module.json", 1, true),
  "to-hf of a module without config.model: an error naming module.json", outp)
ok(T.read_file(tmp .. "/fake-hf/config.json") == nil and listing(tmp):find("fake-hf", 1, true) == nil,
  "nothing is written for it", listing(tmp))

local here = (arg[0]:match("^(.*)/") or ".") .. "/../.."
local reg = os.getenv("HUB_REGISTRY_DIR")
reg = (reg and reg ~= "" and reg or here .. "/build/registry")
if T.read_file(reg .. "/lac/1.0.0/module.json") then
  good, outp = run("convert to-hf " .. q(reg .. "/lac/1.0.0") .. " --out " .. q(tmp .. "/lac-hf"))
  ok(not good and outp:find("not a BERT/ERNIE encoder module", 1, true), "to-hf of lac: not an encoder module", outp)
  ok(listing(tmp):find("lac-hf", 1, true) == nil, "nothing is written for lac", listing(tmp))
else
  T.data_missing("the lac case (lac is not built; run make registry)",
    "HUB_REQUIRE_DATA is set but lac is not built (make registry)")
end

-- an existing --out: refused without --force, the directory untouched
local busy = tmp .. "/busy"
os.execute("mkdir -p " .. q(busy))
T.write_file(busy .. "/keep.txt", "mine\n")
good, outp = run("convert to-hf " .. q(mod) .. " --out " .. q(busy))
ok(not good and outp:find("already exists", 1, true) and outp:find("--force", 1, true),
  "to-hf into an existing directory without --force: an error that names --force", outp)
ok(listing(busy) == "keep.txt" and T.read_file(busy .. "/keep.txt") == "mine\n", "the existing directory is untouched", listing(busy))
ok(listing(tmp):find("busy.tmp", 1, true) == nil, "no temporary directory is left behind", listing(tmp))
good, outp = run("convert to-hf " .. q(mod) .. " --out " .. q(busy) .. " --force")
ok(good and T.read_file(busy .. "/keep.txt") == nil and T.read_file(busy .. "/config.json") ~= nil,
  "--force replaces it", outp)

-- usage errors
good, outp = run("convert to-hf " .. q(mod))
ok(not good and outp:find("--out DIR is required", 1, true), "to-hf without --out: a usage error", outp)
good, outp = run("convert to-hf --out " .. q(tmp .. "/x"))
ok(not good and outp:find("which module", 1, true), "to-hf without a module: a usage error", outp)
good, outp = run("convert to-hf " .. q(tmp .. "/no-such-module") .. " --out " .. q(tmp .. "/x"))
ok(not good and outp:find("no module.json", 1, true), "to-hf of a directory that is not a module: an error naming it", outp)
good, outp = run("convert to-hf " .. q(mod) .. " --out " .. q(tmp .. "/x") .. " --name y")
ok(not good and outp:find("--name", 1, true), "to-hf with --name (a `convert hf` flag): a usage error", outp)
ok(listing(tmp):find(" x", 1, true) == nil, "the failed calls wrote nothing", listing(tmp))
good, outp = run("convert --help")
ok(good and outp:find("to-hf", 1, true) and outp:find("--out", 1, true), "convert --help describes to-hf")

os.execute("rm -rf " .. q(tmp))
T.finish()
