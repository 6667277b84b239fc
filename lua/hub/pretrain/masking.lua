-- hub.pretrain.masking: ERNIE 1.0 knowledge masking over packed sequences (hub.pretrain.data),
-- and the batches of the masked-LM objective.
--
--   local masking = require "hub.pretrain.masking"
--   local b = masking.batch(seqs, { 17, 4, 99 }, { seed = 1, epoch = 0, vocab_size = V, mask_id = 4 })
--   b.input_ids [B, Lb] i64, b.attention_mask [B, Lb] i64, b.positions [M] i64 (0-based indices
--   into the B * Lb tokens), b.labels [M] i64, b.n_masked
--
-- Rules (BERT's, with ERNIE's units): the masking units are LAC words, named entities included,
-- so a word or an entity is masked whole or not at all.  Of the real tokens of a sequence (not
-- [CLS], [SEP], [PAD] or [UNK]) round(15%) are chosen, at least one: the units are visited in a
-- random order and a unit is taken while it still fits in the budget (a unit larger than what
-- is left is passed over, as Hugging Face's whole-word masking does).  Each chosen token is
-- replaced by [MASK] with probability 0.8, by a random non-special token with 0.1, and kept
-- with 0.1; it is predicted in every case.
--
-- With o.basic = true every token is its own unit: ERNIE 1.0's basic-level masking, the first
-- stage of its curriculum (single characters, then phrases and entities).
--
-- Masking is dynamic and reproducible: the random numbers of sequence i in epoch e come from a
-- generator keyed by (seed, e, i) alone, so the masks do not depend on batch order, threads or
-- resuming, and every epoch masks differently.  Batches are padded to their longest sequence.
local ffi = require "ffi"
local bit = require "bit"
local hub = require "hub"
local core = require "hub.core"
local C = hub.C

local M = {}

local band, bxor, lshift, rshift, tobit = bit.band, bit.bxor, bit.lshift, bit.rshift, bit.tobit

-- ---- the generator: xorshift32 seeded through a 32-bit mix of the key ----

local function mix(h, v)
  -- one round of a multiply-free avalanche (xorshift-multiply in 16-bit halves would be slower)
  h = tobit(h + v + 0x7f4a7c15)
  h = bxor(h, lshift(h, 13)); h = bxor(h, rshift(h, 17)); h = bxor(h, lshift(h, 5))
  h = tobit(h + 0x6a09e667)
  h = bxor(h, rshift(h, 11)); h = bxor(h, lshift(h, 7)); h = bxor(h, rshift(h, 13))
  return h
end

-- M.rng(seed, epoch, index) -> a function returning uniform numbers in [0, 1).
function M.rng(seed, epoch, index)
  local s = mix(mix(mix(mix(0x2545f491, seed % 4294967296), epoch), index), 0x9e3779b9)
  if s == 0 then s = 0x1234567 end
  local x = s
  return function()
    x = bxor(x, lshift(x, 13)); x = bxor(x, rshift(x, 17)); x = bxor(x, lshift(x, 5))
    return (x % 4294967296) / 4294967296
  end
end

-- Masks one sequence.  ids, units: 1-based Lua arrays of length n; special: set of ids never
-- masked.  Returns a list of {position (1-based), label, new id}.
function M.mask_sequence(ids, units, n, rnd, o)
  -- the units of real tokens, in order
  local unit_pos, order = {}, {}
  local real = 0
  for j = 1, n do
    local u = units[j]
    if o.basic and u >= 0 then u = j end
    if u >= 0 and not o.special[ids[j]] then
      local list = unit_pos[u]
      if not list then list = {}; unit_pos[u] = list; order[#order + 1] = u end
      list[#list + 1] = j
      real = real + 1
    end
  end
  if real == 0 then return {} end
  local budget = math.max(1, math.floor(real * (o.ratio or 0.15) + 0.5))
  for i = #order, 2, -1 do   -- Fisher-Yates
    local k = math.floor(rnd() * i) + 1
    order[i], order[k] = order[k], order[i]
  end
  local out, taken = {}, 0
  for _, u in ipairs(order) do
    if taken >= budget then break end
    local list = unit_pos[u]
    if taken + #list <= budget then
      for _, j in ipairs(list) do
        local r, new = rnd(), ids[j]
        if r < 0.8 then new = o.mask_id
        elseif r < 0.9 then new = o.first_normal + math.floor(rnd() * (o.vocab_size - o.first_normal)) end
        out[#out + 1] = { j, ids[j], new }
      end
      taken = taken + #list
    end
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

local function options(o)
  if type(o) ~= "table" then error("masking: expected an options table", 0) end
  for _, k in ipairs { "seed", "epoch", "vocab_size", "mask_id" } do
    if type(o[k]) ~= "number" then error("masking: option '" .. k .. "' must be a number", 0) end
  end
  if not o.special then
    o.special = {}
    for _, id in ipairs(o.special_ids or { 0, 1, 2, 3, 4 }) do o.special[id] = true end
  end
  o.first_normal = o.first_normal or 5
  return o
end
M.options = options

-- batch(seqs, indices, opts) -> the network's inputs and the masked positions and labels.
-- indices are 1-based sequence numbers into seqs (hub.pretrain.data.prepare's result).
function M.batch(seqs, indices, o)
  o = options(o)
  local L, pid, pu, pl = seqs.L, seqs.ids, seqs.units, seqs.lengths
  local B, Lb = #indices, 0
  for _, s in ipairs(indices) do Lb = math.max(Lb, tonumber(pl[s - 1])) end
  local qi, qm = ffi.new("int64_t[?]", B * Lb), ffi.new("int64_t[?]", B * Lb)
  local pos, lab = {}, {}
  local ids, units = {}, {}
  for b, s in ipairs(indices) do
    local n, row = tonumber(pl[s - 1]), (s - 1) * L
    for j = 1, n do ids[j], units[j] = tonumber(pid[row + j - 1]), tonumber(pu[row + j - 1]) end
    local masked = M.mask_sequence(ids, units, n, M.rng(o.seed, o.epoch, s), o)
    for _, m in ipairs(masked) do
      ids[m[1]] = m[3]
      pos[#pos + 1] = (b - 1) * Lb + m[1] - 1
      lab[#lab + 1] = m[2]
    end
    for j = 1, n do qi[(b - 1) * Lb + j - 1], qm[(b - 1) * Lb + j - 1] = ids[j], 1 end
  end
  if #pos == 0 then pos, lab = { 0 }, { -100 } end   -- nothing to predict: one ignored target
  local shape = ffi.new("int64_t[2]", B, Lb)
  local ids_t = core.wrap(C.hub_tensor_from_data(C.HUB_I64, 2, shape, qi, C.HUB_I64), 2)
  local mask_t = core.wrap(C.hub_tensor_from_data(C.HUB_I64, 2, shape, qm, C.HUB_I64), 2)
  return { input_ids = ids_t, attention_mask = mask_t, positions = hub.tensor(pos, "i64"),
           labels = hub.tensor(lab, "i64"), n_masked = #pos }
end

-- The order of the sequences in epoch e: a permutation of 1..n from (seed, e).
function M.epoch_order(n, seed, epoch)
  local rnd = M.rng(seed, epoch, -1)
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local k = math.floor(rnd() * i) + 1
    p[i], p[k] = p[k], p[i]
  end
  return p
end

return M
