-- hub.task.sequence_labeling: one tag per character (named entities, word segmentation + POS:
-- PaddleHub's SequenceLabelTask), with a softmax or a CRF head.
--
--   local task = hub.task.sequence_labeling{ module = "ernie-tiny-zh", crf = true }
--
-- Tokens: hub.data.text aligns the data set's character tags to tokens by first-token
-- labelling (a Chinese character is one token; a Latin word or a number is labelled on its
-- first piece; [CLS], [SEP] and "##" pieces are not labelled).  Network: the encoder's
-- sequence output, dropout, a linear layer to per-token tag scores (emissions [B, L, C]).
--   softmax head (crf = false, the default): loss = cross-entropy over the labelled tokens;
--     prediction = the argmax tag of each labelled token.
--   CRF head (crf = true): the labelled tokens of each row are gathered into a dense
--     [B, L', C] (L' = the most labelled tokens of a row, shorter rows masked) and nn.CRF scores
--     tag paths over them: loss = the mean over the batch of the negative log-likelihood of the
--     gold path (the forward algorithm); prediction = the Viterbi path.  Transitions between
--     tags are learned (start, end and [C, C] scores, nn.CRF's parameter names under `crf.`).
-- Metrics: entity-level f1 (the main one), precision and recall as seqeval computes them
-- (micro over the entity types found; hub.metrics.entity_scores) over the labelled tokens, and
-- the token accuracy.  Predict: per text { text, tags = {one tag name per character},
-- entities = {{type = "PER", text = "江泽民", start = 0-based character, ["end"] = exclusive}} };
-- characters that are not labelled themselves (the rest of a Latin word) continue their
-- word's entity (I-), spaces get O, characters cut by max_seq_len get O.
local hub = require "hub"
local nn = hub.nn
local base = require "hub.task.base"
local metrics = require "hub.metrics"

local SL = base.Task:extend("SequenceLabelingTask")

function SL:init(opts)
  local fname = "sequence_labeling"
  local o = base.options(opts, { crf = "boolean" }, fname)
  self:setup(o, fname, "sequence")
  rawset(self, "uses_labels", true)
  rawset(self, "main_metric", "f1")
  rawset(self, "task_name", "sequence_labeling")
  rawset(self, "use_crf", o.crf == true)
  local labels = base.labels_of(o, fname, 1)
  if labels then self:set_labels(labels) end
end

function SL:set_labels(l)
  base.Task.set_labels(self, l)
  if not self.classifier or self.classifier.out_features ~= #l then
    self.classifier = nn.Linear(self.hidden_size, #l)
    if self.use_crf then self.crf = nn.CRF(#l) end
  end
end

-- With a CRF the forward gathers the labelled tokens by reading the batch's labels on the host,
-- which a CUDA graph cannot replay.
function SL:graph_refusal()
  if self.use_crf then return "the CRF gathers the labelled tokens on the host, which a graph cannot replay" end
end

-- The labelled positions of a batch: per row the 0-based token positions whose label is >= 0.
local function labelled(b)
  local rows = b.labels:totable()
  local pos, Lc = {}, 1
  for r, row in ipairs(rows) do
    local p = {}
    for j, t in ipairs(row) do if t >= 0 then p[#p + 1] = j - 1 end end
    pos[r] = p
    if #p > Lc then Lc = #p end
  end
  return pos, Lc, rows
end

function SL:forward_batch(b)
  if not self.classifier then base.fail("sequence_labeling: the tags are not known yet (give labels)") end
  local out = self.encoder:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
                                     attention_mask = b.attention_mask }
  local em = self.classifier(self.dropout(out.sequence_output))
  local r = { emissions = em }
  if self.use_crf then
    -- gather the labelled tokens into [B, L', C]
    local B, L, C = em.shape[1], em.shape[2], em.shape[3]
    local pos, Lc, rows = labelled(b)
    local idx, tags, lens = {}, {}, {}
    for i = 1, B do
      local p = pos[i]
      lens[i] = #p
      local trow = {}
      for j = 1, Lc do
        local q = p[j]
        idx[#idx + 1] = (i - 1) * L + (q or 0)
        trow[j] = q and rows[i][q + 1] or 0
      end
      tags[i] = trow
    end
    r.dense = em:reshape(B * L, C):index_select(1, hub.tensor(idx, "i64"):to(em.device)):reshape(B, Lc, C)
    r.tags, r.lengths, r.positions = hub.tensor(tags, "i64"), hub.tensor(lens, "i64"), pos
  end
  return r
end

function SL:loss(out, b)
  if self.use_crf then return self.crf:nll(out.dense, out.tags, out.lengths, { reduction = "mean" }) end
  local em = out.emissions
  local B, L, C = em.shape[1], em.shape[2], em.shape[3]
  return hub.cross_entropy(em:reshape(B * L, C), b.labels:reshape(B * L))
end

-- Per row, the predicted tag ids of the labelled tokens (in order).
function SL:decode(out, b)
  local pred = {}
  if self.use_crf then
    local paths = self.crf:decode(out.dense, out.lengths):totable()
    for i, p in ipairs(out.positions) do
      local row = {}
      for j = 1, #p do row[j] = paths[i][j] end
      pred[i] = row
    end
    return pred, out.positions
  end
  local am = out.emissions:argmax(-1):totable()
  local pos = labelled(b)
  for i, p in ipairs(pos) do
    local row = {}
    for j, q in ipairs(p) do row[j] = am[i][q + 1] end
    pred[i] = row
  end
  return pred, pos
end

function SL:collect(out, b, acc)
  acc.pred = acc.pred or {}
  acc.gold = acc.gold or {}
  local pred, pos = self:decode(out, b)
  local rows = b.labels:totable()
  for i, p in ipairs(pos) do
    local g = {}
    for j, q in ipairs(p) do g[j] = rows[i][q + 1] end
    acc.gold[#acc.gold + 1] = g
    acc.pred[#acc.pred + 1] = pred[i]
  end
end

function SL:summarize(acc)
  local s = metrics.entity_scores(acc.gold, acc.pred, { labels = self.labels })
  return { f1 = s.f1, precision = s.precision, recall = s.recall, token_acc = s.accuracy, entities = s.support }
end

local function chars(s)
  local out = {}
  for c in s:gmatch("[%z\1-\127\194-\244][\128-\191]*") do out[#out + 1] = c end
  return out
end
SL.chars = chars

-- predict: each text gets a dummy tag list (all 0) so that featurizing marks its labelled tokens.
function SL:predict_examples(texts)
  local exs = base.Task.predict_examples(self, texts)
  for _, ex in ipairs(exs) do
    local l = {}
    for i = 1, #chars(ex.text_a) do l[i] = 0 end
    ex.label = l
  end
  return exs
end

function SL:results(out, b, items, f)
  local pred = self:decode(out, b)
  local r = {}
  for k, ex in ipairs(items) do
    local cs = chars(ex.text_a)
    local tags = {}
    for c = 1, #cs do tags[c] = false end
    local cp = f:char_positions(b.index[k])
    local n = 0
    for _, c in ipairs(cp) do
      if c >= 0 then
        n = n + 1
        tags[c + 1] = self:label_name(pred[k][n])
      end
    end
    local prev = "O"
    for c = 1, #cs do
      if tags[c] then prev = tags[c]
      elseif cs[c]:match("^%s$") or prev == "O" then tags[c] = "O"; prev = "O"
      else tags[c] = "I" .. prev:sub(2); prev = tags[c] end
    end
    local ents = {}
    for _, e in ipairs(metrics.get_entities(tags)) do
      if e.type ~= "_" then
        ents[#ents + 1] = { type = e.type, text = table.concat(cs, "", e.start, e["end"]), start = e.start - 1, ["end"] = e["end"] }
      end
    end
    r[k] = { text = ex.text_a, tags = tags, entities = ents }
  end
  return r
end

function SL:format_result(r)
  local parts = {}
  for _, e in ipairs(r.entities) do parts[#parts + 1] = e.type .. ":" .. e.text end
  return r.text .. "\t" .. table.concat(parts, " ")
end

function SL:task_config()
  local c = base.Task.task_config(self)
  c.crf = self.use_crf
  return c
end

return SL
