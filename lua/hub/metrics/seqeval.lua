-- hub.metrics entity-level scores for sequence labelling, as seqeval 1.2.2 computes them by
-- default (conlleval-compatible chunking, not its "strict" mode).
--
--   local s = metrics.entity_scores(gold_sentences, predicted_sentences)
--   print(s.f1, s.precision, s.recall, s.per_type.PER.f1)
--
-- Tags are strings with a one-letter prefix and a type: B-PER, I-PER, O (BIO / IOB2 and IOB1)
-- and also E-PER, S-PER (BIOES).  Chunking reads the tags left to right as conlleval does, with
-- seqeval's rules: the first letter is the tag, the rest after the first '-' the type ("O" and a
-- bare "B" have type "_"):
--   * a chunk ends before a position when the previous tag was E or S; or it was B or I and the
--     current tag is B, S or O; or the previous tag was not O and the type changes;
--   * a chunk starts at a position when the tag is B or S; or it is I or E after O, E or S; or
--     the tag is not O and the type changes.
-- So an I- after O, or after a chunk of another type, starts a new chunk (I-PER I-PER is one
-- PER entity; B-PER I-LOC are two).  Sentences are joined with an O between them (as seqeval
-- flattens a list of sentences).  An entity counts as correct when its type, start and end all
-- match; precision = correct / predicted entities, recall = correct / gold entities, F1 = 2 P R /
-- (P + R), 0 on a zero denominator; micro (the default seqeval score), macro and weighted
-- averages over the entity types found in either side, and the per-type scores.
local common = require "hub.metrics.common"

local M = {}

local function end_of_chunk(prev_tag, tag, prev_type, typ)
  if prev_tag == "E" or prev_tag == "S" then return true end
  if (prev_tag == "B" or prev_tag == "I") and (tag == "B" or tag == "S" or tag == "O") then return true end
  if prev_tag ~= "O" and prev_tag ~= "." and prev_type ~= typ then return true end
  return false
end

local function start_of_chunk(prev_tag, tag, prev_type, typ)
  if tag == "B" or tag == "S" then return true end
  if (prev_tag == "E" or prev_tag == "S" or prev_tag == "O") and (tag == "E" or tag == "I") then return true end
  if tag ~= "O" and tag ~= "." and prev_type ~= typ then return true end
  return false
end

-- The tag letter and the type of a label string, as seqeval splits them.
local function split(label)
  local tag = label:sub(1, 1)
  local rest = label:sub(2)
  local dash = rest:find("-", 1, true)
  local typ = dash and rest:sub(dash + 1) or rest
  if typ == "" then typ = "_" end
  return tag, typ
end

-- get_entities(tags): the chunks of one sequence of tag strings, each { type, start, end }
-- (1-based, inclusive), in order of their end.
function M.get_entities(seq)
  if type(seq) ~= "table" then error("get_entities: expected an array of tag strings, got " .. type(seq), 2) end
  local chunks = {}
  local prev_tag, prev_type, begin = "O", "", 1
  local n = #seq
  for i = 1, n + 1 do
    local label = i <= n and seq[i] or "O"
    if type(label) ~= "string" then
      error(string.format("get_entities: tag %d is a %s, expected a string", i, type(label)), 2)
    end
    local tag, typ = split(label)
    if end_of_chunk(prev_tag, tag, prev_type, typ) then chunks[#chunks + 1] = { type = prev_type, start = begin, ["end"] = i - 1 } end
    if start_of_chunk(prev_tag, tag, prev_type, typ) then begin = i end
    prev_tag, prev_type = tag, typ
  end
  return chunks
end

-- Sentences of tag strings from what the caller passed: an array of arrays of strings; or ids
-- (a 2-d tensor or arrays of numbers) with opts.labels naming id k as labels[k + 1]; positions
-- where the gold id is negative (padding, -100) are dropped from both sides, and opts.lengths
-- cuts each sentence.
local function sentences(v, fname, what, labels, keep)
  if require("hub.core").is_tensor(v) then
    if v:dim() ~= 2 then error(string.format("%s: %s must be a 2-d tensor [B, L] of tag ids, got %d-d", fname, what, v:dim()), 4) end
    v = v:totable()
  end
  if type(v) ~= "table" then error(string.format("%s: %s must be an array of sentences, got %s", fname, what, type(v)), 4) end
  if type(v[1]) == "string" then v = { v } end -- one sentence
  local out = {}
  for s, sent in ipairs(v) do
    if type(sent) ~= "table" then error(string.format("%s: %s sentence %d is a %s, expected an array of tags", fname, what, s, type(sent)), 4) end
    local tags = {}
    for t, x in ipairs(sent) do
      if keep(s, t) then
        if type(x) == "number" then
          if not labels then error(string.format("%s: %s are tag ids; pass opts.labels (the tag names, id 0 first)", fname, what), 4) end
          local name = labels[x + 1]
          if type(name) ~= "string" or x < 0 or x % 1 ~= 0 then
            error(string.format("%s: %s sentence %d position %d: tag id %s has no name in labels (%d tags)", fname, what, s, t, tostring(x), #labels), 4)
          end
          x = name
        elseif type(x) ~= "string" then
          error(string.format("%s: %s sentence %d position %d is a %s, expected a tag string or id", fname, what, s, t, type(x)), 4)
        end
        tags[#tags + 1] = x
      end
    end
    out[s] = tags
  end
  return out
end

-- Which positions count: a function (sentence, position) -> false where the gold id is negative
-- or the position is past opts.lengths.
local function positions(gold, lengths)
  if require("hub.core").is_tensor(gold) then gold = gold:totable() end
  if type(gold) == "table" and type(gold[1]) == "string" then gold = { gold } end
  local lens = lengths and common.flat(lengths, "entity_scores", "lengths", 5)
  return function(s, t)
    if lens and t > (lens[s] or 0) then return false end
    local sent = type(gold) == "table" and gold[s]
    local x = type(sent) == "table" and sent[t]
    return not (type(x) == "number" and x < 0)
  end
end

-- entity_scores(gold, predicted, {labels = nil, lengths = nil})
-- gold and predicted: arrays of sentences, each an array of tag strings (or one sentence); or
-- tag ids ([B, L] tensors or arrays) with opts.labels, e.g. a data set's label list and a CRF's
-- decode (-1 at padding).  Returns
--   { precision, recall, f1, support (micro: seqeval's default scores; support = gold entities),
--     predicted (entities), correct,
--     macro = { precision, recall, f1, support }, weighted = { ... },
--     per_type = { PER = { precision, recall, f1, support }, ... }, types = { sorted names },
--     accuracy (token-level, seqeval's accuracy_score) }
function M.entity_scores(gold, pred, opts)
  local fname = "entity_scores"
  if opts ~= nil and type(opts) ~= "table" then error(fname .. ": options must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "labels" and k ~= "lengths" then
      error(string.format("%s: unknown option '%s' (expected labels or lengths)", fname, tostring(k)), 2)
    end
  end
  if opts.labels ~= nil and type(opts.labels) ~= "table" then
    error(fname .. ": labels must be an array of tag names (id 0 first)", 2)
  end
  local keep = positions(gold, opts.lengths)
  local g = sentences(gold, fname, "gold", opts.labels, keep)
  local p = sentences(pred, fname, "predictions", opts.labels, keep)
  if #g ~= #p then error(string.format("%s: %d gold sentences but %d predicted", fname, #g, #p), 2) end
  local flat_g, flat_p = {}, {}
  local right, total = 0, 0
  for s = 1, #g do
    if #g[s] ~= #p[s] then
      error(string.format("%s: sentence %d has %d gold tags but %d predicted", fname, s, #g[s], #p[s]), 2)
    end
    for t = 1, #g[s] do
      flat_g[#flat_g + 1], flat_p[#flat_p + 1] = g[s][t], p[s][t]
      total = total + 1
      if g[s][t] == p[s][t] then right = right + 1 end
    end
    flat_g[#flat_g + 1], flat_p[#flat_p + 1] = "O", "O"
  end
  local eg, ep = {}, {}
  local types, seen = {}, {}
  for _, side in ipairs { { flat_g, eg }, { flat_p, ep } } do
    for _, c in ipairs(M.get_entities(side[1])) do
      local set = side[2][c.type]
      if not set then set = {}; side[2][c.type] = set end
      set[c.start .. ":" .. c["end"]] = true
      if not seen[c.type] then seen[c.type] = true; types[#types + 1] = c.type end
    end
  end
  table.sort(types)
  local per, counts, per_type = {}, {}, {}
  local correct, npred = 0, 0
  for i, typ in ipairs(types) do
    local tp, np, nt = 0, 0, 0
    for k in pairs(eg[typ] or {}) do
      nt = nt + 1
      if ep[typ] and ep[typ][k] then tp = tp + 1 end
    end
    for _ in pairs(ep[typ] or {}) do np = np + 1 end
    local pr, rc, f = common.prf(tp, np, nt)
    per[i] = { precision = pr, recall = rc, f1 = f, support = nt }
    per_type[typ] = per[i]
    counts[i] = { tp, np, nt }
    correct, npred = correct + tp, npred + np
  end
  local r = common.average(per, counts, "micro")
  r.predicted, r.correct = npred, correct
  r.macro = common.average(per, counts, "macro")
  r.weighted = common.average(per, counts, "weighted")
  r.per_type, r.types = per_type, types
  r.accuracy = total > 0 and right / total or 0 / 0
  return r
end

-- entity_f1(gold, predicted, opts): entity_scores(...).f1, seqeval's f1_score.
function M.entity_f1(gold, pred, opts) return M.entity_scores(gold, pred, opts).f1 end

return M
