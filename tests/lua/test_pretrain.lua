-- hub.pretrain: packing of LAC-segmented sentences into sequences, ERNIE knowledge masking and
-- the masked-LM batches, checked on values:
--   * packing (fixtures/pretrain/corpus.txt, 3 documents): every sequence is [CLS] ... [SEP] of
--     at most max_seq_len tokens; the tokens of each document, read back from its sequences in
--     order, are exactly the WordPiece tokens of its sentences (nothing lost, nothing crosses a
--     document); a sentence longer than a sequence is cut at unit boundaries; units are whole
--     LAC words, so "百度" and the entity "2019年国庆节" (TIME) are single units;
--   * masking over many sequences: a unit is masked whole or not at all; special tokens and
--     [UNK] never; round(15%) of the real tokens of each sequence (or fewer when no unit fits);
--     of the masked tokens ~80% become [MASK], ~10% a random non-special token, ~10% stay;
--     the same (seed, epoch, sequence) gives the same mask, another epoch another one;
--   * batches: padding to the longest sequence, positions index the flattened tokens and the
--     labels are the original ids; epoch orders are permutations;
--   * the cache: a second prepare reads the cached file and gives the same arrays.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local data = require "hub.pretrain.data"
local masking = require "hub.pretrain.masking"

local lac_dir = hub.lac.default_dir()
local f = io.open(lac_dir .. "/word.dic", "rb")
if not f then
  T.data_missing("LAC weights not fetched (scripts/fetch-lac.sh)", "LAC weights missing: " .. lac_dir)
  T.finish()
  return
end
f:close()

local tmp = io.popen("mktemp -d /tmp/hub_pretrain_XXXXXX"):read("*l")
local tk = hub.tokenizer.wordpiece { vocab = "fixtures/vocab_zh.txt" }
local lac = hub.lac.load()
local CORPUS = "fixtures/pretrain/corpus.txt"
local L = 24
local seqs = data.prepare { corpus = CORPUS, tokenizer = tk, lac = lac, max_seq_len = L, cache = tmp .. "/c.safetensors",
                            progress = false }
local CLS, SEP, UNK, MASK = tk:token_to_id("[CLS]"), tk:token_to_id("[SEP]"), tk:token_to_id("[UNK]"), tk:token_to_id("[MASK]")

local function seq(s)
  local n, ids, units = tonumber(seqs.lengths[s - 1]), {}, {}
  for j = 1, n do ids[j], units[j] = tonumber(seqs.ids[(s - 1) * L + j - 1]), tonumber(seqs.units[(s - 1) * L + j - 1]) end
  return ids, units, n
end

-- packing
local docs = data.read_documents(CORPUS)
ok(#docs == 3, "three documents in the fixture")
local expected = {}
for d, doc in ipairs(docs) do
  expected[d] = {}
  for _, s in ipairs(doc) do
    local _, ids = tk:tokenize(s)
    for _, id in ipairs(ids) do expected[d][#expected[d] + 1] = id end
  end
end
local got, d, pos_in_doc = { {} }, 1, 0
for s = 1, seqs.n do
  local ids, units, n = seq(s)
  ok(n <= L and ids[1] == CLS and ids[n] == SEP, "sequence " .. s .. " is [CLS] ... [SEP] within " .. L)
  ok(units[1] == -1 and units[n] == -1, "specials have no unit")
  for j = 2, n - 1 do
    ok(units[j] >= 0 and (j == 2 and units[j] == 0 or units[j] == units[j - 1] or units[j] == units[j - 1] + 1),
      "units are numbered in order within sequence " .. s)
  end
  -- which document: the next tokens of the current one, else the next document
  if pos_in_doc >= #expected[d] then d, pos_in_doc = d + 1, 0; got[d] = {} end
  for j = 2, n - 1 do got[d][#got[d] + 1] = ids[j]; pos_in_doc = pos_in_doc + 1 end
end
ok(#got == 3, "sequences cover the three documents in order")
for i = 1, 3 do ok(T.same(got[i] or {}, expected[i]), "document " .. i .. " tokens survive packing unchanged") end
ok(seqs.stats.cut_sentences >= 1, "the long sentence was cut")

-- the long sentence's cut falls at a unit boundary: the unit at the end of a sequence does not
-- continue at the start of the next (units are renumbered per sequence, so compare tokens with
-- a fresh segmentation of the sentence)
local long = docs[3][1]
local _, lids = tk:tokenize(long)
local tagged = lac:tag_chars({ long })[1]
local sids, sunits = data._sentence_tokens(tk, long, tagged.begins, 0)
ok(T.same(sids, lids), "sentence tokens are the tokenizer's")
local runs = data._cut_runs(sunits, L - 2)
ok(#runs >= 2, "a sentence longer than a sequence is cut into runs")
for r = 1, #runs - 1 do
  local e = runs[r][2]
  ok(sunits[e] ~= sunits[e + 1], "run " .. r .. " ends at a unit boundary")
  ok(runs[r + 1][1] == e + 1, "runs are consecutive")
end

-- units are LAC words: 百度 one unit, the TIME entity 2019年国庆节 one unit
local function units_of(text)
  local t = lac:tag_chars({ text })[1]
  local toks, ids = tk:tokenize(text)
  local _, u = data._sentence_tokens(tk, text, t.begins, 0)
  return toks, u
end
local toks, u = units_of("百度是一家高科技公司。")
ok(u[1] == u[2] and u[3] ~= u[2], "百度 is one unit, 是 another")
toks, u = units_of("2019年国庆节我在上海参加了华为发布会。")
local first = u[1]
local n_first = 0
for i = 1, #u do if u[i] == first then n_first = n_first + 1 end end
ok(n_first >= 5, "the TIME entity 2019年国庆节 is one unit (" .. n_first .. " tokens: " .. table.concat(toks, " ", 1, n_first) .. ")")

-- the cache
local again = data.prepare { corpus = CORPUS, tokenizer = tk, lac = { tag_chars = function() error("LAC called again") end },
                             max_seq_len = L, cache = tmp .. "/c.safetensors", progress = false }
ok(again.cached == true and again.n == seqs.n, "the second prepare reads the cache")
local same = true
for i = 0, seqs.n * L - 1 do if again.ids[i] ~= seqs.ids[i] or again.units[i] ~= seqs.units[i] then same = false end end
ok(same, "cached ids and units equal the fresh ones")

-- masking over many sequences (every sequence under 200 seeds/epochs)
local special = { [0] = true }
for _, t in ipairs { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" } do special[tk:token_to_id(t)] = true end
local special_ids = {}
for id in pairs(special) do special_ids[#special_ids + 1] = id end
local mo = masking.options { seed = 3, epoch = 0, vocab_size = tk.vocab_size, mask_id = MASK, special_ids = special_ids,
                             first_normal = 104 }
local total_budget = 0
local total_real, total_masked, n_mask, n_rand, n_keep = 0, 0, 0, 0, 0
local whole, never_special, budget_ok = true, true, true
for epoch = 0, 199 do
  for s = 1, seqs.n do
    local ids, units, n = seq(s)
    local m = masking.mask_sequence(ids, units, n, masking.rng(3, epoch, s), mo)
    local real = 0
    for j = 1, n do if units[j] >= 0 and not special[ids[j]] then real = real + 1 end end
    local budget = math.max(1, math.floor(real * 0.15 + 0.5))
    if #m > budget then budget_ok = false end
    total_budget = total_budget + budget
    total_real, total_masked = total_real + real, total_masked + #m
    local chosen = {}
    for _, e in ipairs(m) do
      chosen[e[1]] = true
      if special[ids[e[1]]] then never_special = false end
      if e[2] ~= ids[e[1]] then never_special = false end
      if e[3] == MASK then n_mask = n_mask + 1
      elseif e[3] == e[2] then n_keep = n_keep + 1
      else n_rand = n_rand + 1; if special[e[3]] or e[3] < 104 or e[3] >= tk.vocab_size then never_special = false end end
    end
    for j = 1, n do
      for k = 1, n do
        if units[j] >= 0 and units[j] == units[k] and not special[ids[j]] and not special[ids[k]]
          and (chosen[j] ~= nil) ~= (chosen[k] ~= nil) then whole = false end
      end
    end
  end
end
ok(whole, "a unit is masked whole or not at all")
ok(never_special, "special tokens and [UNK] are never masked; labels are the original ids; random ids are non-special")
ok(budget_ok, "never more than round(15%) of a sequence's real tokens")
local ratio = total_masked / total_real
ok(total_masked <= total_budget and total_masked >= 0.9 * total_budget and ratio > 0.12 and ratio < 0.18,
  string.format("masked %d tokens of a budget of %d (round(15%%) per sequence): fraction %.4f", total_masked, total_budget, ratio))
local nm = n_mask + n_rand + n_keep
ok(math.abs(n_mask / nm - 0.8) < 0.02, string.format("[MASK] share %.4f ~ 0.8", n_mask / nm))
ok(math.abs(n_rand / nm - 0.1) < 0.015, string.format("random share %.4f ~ 0.1", n_rand / nm))
ok(math.abs(n_keep / nm - 0.1) < 0.015, string.format("kept share %.4f ~ 0.1", n_keep / nm))
print(string.format("masking: %d of %d real tokens (%.4f); mask %.3f random %.3f keep %.3f", total_masked, total_real, ratio,
  n_mask / nm, n_rand / nm, n_keep / nm))

-- basic-level masking (ERNIE 1.0's first stage): single tokens, so the budget is always met
-- exactly, and some multi-token word is masked in part
local bo = masking.options { seed = 3, epoch = 0, vocab_size = tk.vocab_size, mask_id = MASK, special_ids = special_ids,
                             first_normal = 104, basic = true }
local exact, split, never_sp = true, false, true
for epoch = 0, 49 do
  for s = 1, seqs.n do
    local ids, units, n = seq(s)
    local m = masking.mask_sequence(ids, units, n, masking.rng(3, epoch, s), bo)
    local real = 0
    for j = 1, n do if units[j] >= 0 and not special[ids[j]] then real = real + 1 end end
    if #m ~= math.max(1, math.floor(real * 0.15 + 0.5)) then exact = false end
    local chosen = {}
    for _, e in ipairs(m) do chosen[e[1]] = true; if special[ids[e[1]]] then never_sp = false end end
    for j = 2, n do
      if units[j] >= 0 and units[j] == units[j - 1] and (chosen[j] ~= nil) ~= (chosen[j - 1] ~= nil) then split = true end
    end
  end
end
ok(exact, "basic masking takes exactly round(15%) of the real tokens of every sequence")
ok(split, "basic masking masks single tokens of multi-token words")
ok(never_sp, "basic masking never masks special tokens")

-- determinism and dynamic masking
local ids, units, n = seq(1)
local function key(m) local t = {} for _, e in ipairs(m) do t[#t + 1] = e[1] .. ":" .. e[3] end return table.concat(t, ",") end
local a = key(masking.mask_sequence(ids, units, n, masking.rng(3, 5, 1), mo))
local b = key(masking.mask_sequence(ids, units, n, masking.rng(3, 5, 1), mo))
ok(a == b and a ~= "", "the same seed, epoch and sequence give the same mask")
local differ = 0
for e = 6, 15 do if key(masking.mask_sequence(ids, units, n, masking.rng(3, e, 1), mo)) ~= a then differ = differ + 1 end end
ok(differ >= 8, "other epochs mask differently (" .. differ .. " of 10)")

-- batches
local idx = { 2, 1 }
local bt = masking.batch(seqs, idx, { seed = 3, epoch = 0, vocab_size = tk.vocab_size, mask_id = MASK, special_ids = special_ids,
                                      first_normal = 104 })
local Lb = math.max(tonumber(seqs.lengths[1]), tonumber(seqs.lengths[0]))
ok(bt.input_ids.shape[1] == 2 and bt.input_ids.shape[2] == Lb, "a batch is padded to its longest sequence")
local inp, msk, pos, lab = bt.input_ids:totable(), bt.attention_mask:totable(), bt.positions:totable(), bt.labels:totable()
local good = #pos == bt.n_masked and #pos > 0
for i, p in ipairs(pos) do
  local r, c = math.floor(p / Lb) + 1, p % Lb + 1
  local oid = seq(idx[r])[c]
  if lab[i] ~= oid or msk[r][c] ~= 1 then good = false end
end
ok(good, "positions index the flattened tokens; labels are the original ids")
local pad_ok = true
for r = 1, 2 do
  local n_r = tonumber(seqs.lengths[idx[r] - 1])
  for c = 1, Lb do if (c <= n_r) ~= (msk[r][c] == 1) or (c > n_r and inp[r][c] ~= 0) then pad_ok = false end end
end
ok(pad_ok, "the attention mask marks the real tokens; padding is id 0")
local perm = masking.epoch_order(100, 1, 3)
local seen, is_perm = {}, #perm == 100
for _, v in ipairs(perm) do if seen[v] or v < 1 or v > 100 then is_perm = false end seen[v] = true end
ok(is_perm, "an epoch order is a permutation")
ok(table.concat(perm, ",") ~= table.concat(masking.epoch_order(100, 1, 4), ","), "each epoch has its own order")

T.errors(function() data.prepare { corpus = tmp .. "/none.txt", tokenizer = tk, lac = lac } end, "cannot read corpus", "a missing corpus")
os.execute("rm -rf " .. tmp)
T.finish()
