-- The lac module: Baidu's LAC-small lexical analyser (word segmentation, part-of-speech tags and
-- PER/LOC/ORG/TIME entities), packaged as a hubrun module by scripts/build-registry.sh.
--
-- The module directory holds this file, module.json, lac.safetensors (the PaddlePaddle
-- parameters of python3-jieba's lac_small under their Paddle names: word_emb, fc_0.w_0 ...
-- gru_3.b_0, fc_4.w_0, fc_4.b_0, crfw), word.dic (character -> id) and tag.dic (id -> tag).
-- The network and the text side are hub.lac's (lua/hub/models/lac.lua); this file only gives it the
-- weights, loaded with hub.load_shared so that every runtime of a process shares one copy.
--
--   hubrun run lac --input_text "百度是一家高科技公司"       -> 百度/ORG 是/v 一家/m 高科技/n 公司/n
--   local lac = hub.module "lac"; lac:predict{"今天是个好日子"} -> {{word = {...}, tag = {...}}}
--   lac:set_user_dict("my.dic")                               -> PaddleHub's user dictionary
--
-- JSON requests (hub_module_predict_json, serving) are PaddleHub's: {"text": ["...", ...]},
-- with an optional "batch_size"; answers are [{"word": [...], "tag": [...]}, ...].
local hub = require "hub"

local M = {}

-- opts.user_dict: a user dictionary to load at once (a file or a list, as set_user_dict takes);
-- opts.device: "cpu" (the default) or "cuda" (`hubrun run lac --device cuda`, serving's --device).
function M.load(dir, opts)
  opts = require("hub.core").check_options(opts, { user_dict = "string|table", device = "string" }, "module 'lac'", 2)
  if opts.device then require("hub.cuda").check_device(opts.device, "module 'lac'") end
  -- from_params checks every shape against word.dic and tag.dic; the tensors are used in place
  -- (the converter already wrote LAC-small's denormals as 0, so nothing is copied).
  local self = hub.lac.from_params(dir, hub.load_shared(dir .. "/lac.safetensors"), dir .. "/lac.safetensors: ")
  if opts.user_dict then self:set_user_dict(opts.user_dict) end
  if opts.device and opts.device ~= "cpu" then self:to(opts.device) end
  return self
end

-- texts: a list of strings (or one string); opts.batch_size (default 32), opts.max_batch_chars
-- (hub.lac's predict checks them).
function M.predict(self, texts, opts)
  return self:predict(texts, opts)
end

function M.format(self, result) return hub.lac.format(result) end

-- PaddleHub's key order: "word" before "tag".
function M.json(self, results) return hub.lac.json(results) end

return M
