-- The masked-language-model head against Hugging Face's BertForMaskedLM, and `hubrun convert hf`
-- keeping it.
--
-- fixtures/ernie_mlm/ (made by scripts/gen_mlm_fixtures.py with transformers' own
-- BertForMaskedLM, saved by its save_pretrained, reference run in float64): the checkpoint is
-- converted with the real `hubrun convert hf`, the module's network must have the head
-- (config mlm_head), and
--   * logits at every position and at the masked positions equal the reference (1e-4 relative);
--   * the cross-entropy over the masked positions and its gradient with respect to every
--     parameter equal the reference (the tied decoder's share lands in the word embeddings;
--     the fused qkv compared block by block with query / key / value);
-- then the converter's errors for a head that does not fit: an untied decoder (a decoder
-- weight that differs from the embeddings), a decoder without its transform, and a model
-- without a head asked for logits.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local cjson = require "cjson"

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local FIX = "fixtures/ernie_mlm"
local TOL = 1e-4
local tmp = io.popen("mktemp -d /tmp/hub_mlm_XXXXXX"):read("*l")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function sh(cmd) return os.execute(cmd .. " >" .. tmp .. "/out 2>" .. tmp .. "/err") end
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end

local function rel_err(a, b)
  a, b = a:to("f32"), b:to("f32")
  local abs = (a - b):abs():max():item()
  return abs / math.max(b:abs():max():item(), 1e-30), abs
end

local function compare(what, a, b)
  local sa, sb = table.concat(a.shape, ","), table.concat(b.shape, ",")
  if sa ~= sb then ok(false, string.format("%s: shape [%s], expected [%s]", what, sa, sb)) return 0 end
  local rel, abs = rel_err(a, b)
  ok(rel < TOL, string.format("%s: relative error %.3g (max abs %.3g) > %g", what, rel, abs, TOL))
  return rel
end

-- convert
local out = tmp .. "/mlm"
local rc = sh(string.format("%s convert hf %s --name mlm-test --output %s", q(HUBRUN), FIX, q(out)))
ok(rc == 0 or rc == true, "convert hf of a BertForMaskedLM checkpoint", slurp(tmp .. "/err"))
local manifest = cjson.decode(slurp(out .. "/module.json"))
ok(manifest.config.model.mlm_head == true, "the converted config has mlm_head = true")
ok(manifest.config.model.pooler == false, "BertForMaskedLM has no pooler")
local w = hub.load(out .. "/model.safetensors")
ok(w["mlm.bias"] ~= nil and w["mlm.dense.weight"] ~= nil and w["mlm.layer_norm.weight"] ~= nil,
  "the module's weights hold the head (mlm.bias, mlm.dense.*, mlm.layer_norm.*)")
ok(w["mlm.decoder.weight"] == nil, "the tied decoder is not stored twice")

local m = hub.module(out)
local ctx = m:context { trainable = true }
local model = ctx.network
model:eval()   -- no dropout; gradients still recorded
local exp = cjson.decode(slurp(FIX .. "/expected.json"))
local ref = hub.load(FIX .. "/expected.safetensors")
local ids = hub.tensor(exp.input_ids, "i64")
local mask = hub.tensor(exp.attention_mask, "i64")
local positions = hub.tensor(exp.positions, "i64")
local labels = hub.tensor(exp.labels, "i64")

local o = model:forward { input_ids = ids, attention_mask = mask }
local all = model:mlm_logits(o.sequence_output)
compare("logits at every position", all, ref.logits)
local masked = model:mlm_logits(o.sequence_output, positions)
compare("logits at the masked positions", masked, ref.masked_logits)
local loss = hub.cross_entropy(masked, labels)
ok(math.abs(loss:item() - ref.loss:item()) < 1e-4 * math.abs(ref.loss:item()),
  string.format("loss %.7g equals the reference %.7g", loss:item(), ref.loss:item()))
model:zero_grad()
loss:backward()

-- gradients: every Hugging Face parameter, mapped to hubrun's names
local convert = require "hub.convert"
local params = {}
for name, p in model:named_parameters() do params[name] = p end
local H = model.config.hidden_size
local n, worst = 0, 0
for key, g in pairs(ref) do
  local hf = key:match("^grad%.(.*)$")
  if hf then
    local cname = convert.canonical(hf)
    if cname == "cls.predictions.decoder.weight" or cname == "cls.predictions.decoder.bias" then
      -- tied: the same tensors as the word embeddings / cls.predictions.bias (also in the fixture)
    else
      local hn, part = convert.hubrun_name(cname)
      local p = hn and params[hn]
      ok(p ~= nil and p.grad ~= nil, "a gradient for " .. hf .. " (" .. tostring(hn) .. ")")
      if p and p.grad then
        local mine = p.grad
        if part then mine = mine:narrow(1, (part - 1) * H + 1, H) end
        if hf:match("attention%.self%.key%.bias$") then
          ok(mine:abs():max():item() < 1e-5 and g:abs():max():item() < 1e-5, "the key bias gets no gradient")
        else
          local r = compare("grad " .. hf, mine, g)
          worst = math.max(worst, r)
        end
        n = n + 1
      end
    end
  end
end
ok(n >= 30, "gradients compared for every parameter (" .. n .. ")")
print(string.format("mlm head: %d gradients, worst relative error %.2e; loss %.7g (ref %.7g)", n, worst, loss:item(),
  ref.loss:item()))

-- fill_mask: the top-k of the head's softmax at each [MASK], best first (the logits are the
-- golden ones above); predict/format route texts with [MASK] to it
local text = "北京是中国的[MASK]都，[MASK]天"
local fills = m:fill_mask({ text }, { top_k = 3 })[1]
ok(#fills == 2 and #fills[1] == 3, "one list of top_k fills per [MASK]")
local b = m:encode({ text })
local ids1 = b.input_ids:totable()[1]
local mpos = {}
for j, id in ipairs(ids1) do if id == m.tokenizer.mask_id then mpos[#mpos + 1] = j - 1 end end
local probs = hub.no_grad(function()
  model:eval()
  local o2 = model:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids, attention_mask = b.attention_mask }
  return model:mlm_logits(o2.sequence_output, hub.tensor(mpos, "i64")):softmax(-1)
end):totable()
for k2 = 1, 2 do
  local best, bi = -1, -1
  for id, p in ipairs(probs[k2]) do if p > best then best, bi = p, id - 1 end end
  ok(fills[k2][1].id == bi and math.abs(fills[k2][1].score - best) < 1e-6, "fill " .. k2 .. ": the best token is the head's argmax")
  ok(fills[k2][1].score >= fills[k2][2].score and fills[k2][2].score >= fills[k2][3].score, "fills are sorted")
  ok(fills[k2][1].token == m.tokenizer:id_to_token(bi), "fills carry the token text")
end
local pr = m:predict({ text, "北京是中国的首都" })
ok(pr[1].fill_mask ~= nil and pr[2].pooled_output ~= nil, "predict: fills for a text with [MASK], vectors otherwise")
ok(m:format(pr[1]):find("[MASK]1: " .. fills[1][1].token, 1, true) ~= nil, "format prints the fills")

-- a model without the head
local plain = hub.models.ernie.new { vocab_size = 20, hidden_size = 8, num_hidden_layers = 1, num_attention_heads = 2,
  intermediate_size = 16 }
T.errors(function() plain:mlm_logits(hub.zeros(1, 3, 8)) end, "no masked-LM head", "mlm_logits without the head")

-- the converter refuses an untied decoder and a decoder without its transform
local src = hub.load(FIX .. "/model.safetensors")
local function variant(name, edit)
  local d = tmp .. "/" .. name
  os.execute("mkdir -p " .. q(d) .. " && cp " .. FIX .. "/config.json " .. FIX .. "/vocab.txt " .. FIX .. "/tokenizer_config.json " .. q(d))
  local t = {}
  for k, v in pairs(src) do t[k] = v end
  edit(t)
  hub.save(d .. "/model.safetensors", t)
  local r = sh(string.format("%s convert hf %s --name v --output %s", q(HUBRUN), q(d), q(d .. "-out")))
  return (r == 0 or r == true), slurp(tmp .. "/err")
end
local good, err = variant("untied", function(t)
  t["cls.predictions.decoder.weight"] = t["bert.embeddings.word_embeddings.weight"]:mul(2)
end)
ok(not good and err:find("differs from the word embeddings", 1, true) ~= nil, "an untied decoder is refused", err)
good, err = variant("tied_copy", function(t)
  t["cls.predictions.decoder.weight"] = t["bert.embeddings.word_embeddings.weight"]:clone()
end)
ok(good, "a stored copy of the tied decoder converts", err)
good, err = variant("no_transform", function(t)
  t["cls.predictions.decoder.weight"] = t["bert.embeddings.word_embeddings.weight"]:clone()
  for k in pairs(src) do if k:match("^cls%.predictions%.transform") then t[k] = nil end end
end)
ok(not good and err:find("incomplete masked-LM head", 1, true) ~= nil, "a decoder without its transform is refused", err)

os.execute("rm -rf " .. q(tmp))
T.finish()
