-- `hubrun convert hf DIR --name NAME`: makes a hubrun module of a Hugging Face BERT / ERNIE
-- checkpoint directory (the work is hub.convert.hf in lua/hub/convert.lua; docs/models.md);
-- `hubrun convert to-hf MODULE --out DIR`: the other way, a Hugging Face directory of a hubrun
-- encoder module (lua/hub/convert_to_hf.lua).
local cli = require "hub.cli_util"

local M = {
  summary = "convert a Hugging Face BERT/ERNIE checkpoint or a sentence-transformers model into a module, or a module to Hugging Face",
  usage = "hubrun convert hf DIR --name NAME [--version V] [--dtype f32|f16|bf16] [--output OUT] [--license SPDX]\n"
    .. "       hubrun convert to-hf MODULE --out DIR [--force]",
  help = [[
hubrun convert hf DIR --name NAME: a module of a Hugging Face directory.

DIR holds config.json (BertConfig or ErnieConfig), model.safetensors (or a sharded
model.safetensors.index.json), vocab.txt and optionally tokenizer_config.json (do_lower_case).
pytorch_model.bin is not read: save the model with safe_serialization=True first.

A sentence-transformers directory (modules.json: Transformer, Pooling, optionally Normalize;
1_Pooling/config.json; sentence_bert_config.json) makes an nlp/embedding module whose
sentence vectors use the model's own pooling (cls, max, mean or mean_sqrt_len_tokens, as
1_Pooling/config.json says), L2-normalised when modules.json lists Normalize, on texts cut to
max_seq_length tokens: the vectors sentence-transformers' encode() gives.  Another module
type or pooling mode is an error naming the file.

The module directory OUT (default ./NAME) gets module.json (with the sha256 of every file),
model.safetensors (hubrun parameter names), vocab.txt and module.lua.  Load it with
hub.module "OUT" (or install it: hubrun install OUT), then m:embed{"text", {"q", "a"}} or
m:context{max_seq_len = 128, trainable = true}.  A "bert." or "ernie." prefix is stripped; the
pre-training heads (cls.*) are skipped; missing or unknown tensors are an error listing them.

hubrun convert to-hf MODULE --out DIR: the other way.  MODULE (an installed name or a module
directory holding a BERT/ERNIE encoder: what `convert hf` or a hubrun recipe made) becomes a
Hugging Face directory: config.json (BertConfig), model.safetensors (f32, Hugging Face names:
bert.*, cls.predictions.* for a masked-LM head, classifier.* for a fine-tuned classifier),
vocab.txt, tokenizer_config.json and special_tokens_map.json, which transformers' BertModel,
BertForMaskedLM and BertForSequenceClassification load with from_pretrained(DIR).

examples:
  hubrun convert to-hf ernie-tiny-zh --out hf/ernie-tiny-zh
  hubrun convert hf ./bert-base-chinese --name bert-base-chinese
  hubrun convert hf ./ernie-3.0-medium-zh --name ernie-3.0-medium-zh --dtype bf16 -o /tmp/ernie3
  hubrun convert hf ./all-MiniLM-L6-v2 --name all-minilm-l6-v2 --license Apache-2.0]],
  flags = {
    { "name", "n", arg = "NAME", help = "module name (required)" },
    { "version", "V", arg = "V", help = "module version (default 1.0.0)" },
    { "dtype", nil, arg = "DTYPE", help = "weights as f32 (default), f16 or bf16" },
    { "output", "o", arg = "OUT", help = "output directory (default ./NAME)" },
    { "out", nil, arg = "DIR", help = "to-hf: the Hugging Face directory to write (same as --output)" },
    { "summary", nil, arg = "TEXT", help = "module.json summary" },
    { "license", nil, arg = "SPDX", help = "module.json license (the weights' licence, e.g. Apache-2.0)" },
    { "author", nil, arg = "TEXT", help = "module.json author" },
    { "type", nil, arg = "TYPE", help = "module.json type (default nlp/semantic_model, nlp/embedding for sentence-transformers)" },
    { "force", "f", help = "replace OUT if it exists" },
    { "quiet", "q", help = "no notes on stderr" },
  },
}

local function to_hf(opts, args)
  if #args ~= 2 then cli.usage_error(#args < 2 and "which module? (a name or a module directory)" or "one module at a time") end
  for _, k in ipairs { "name", "version", "dtype", "summary", "license", "author", "type" } do
    if opts[k] then cli.usage_error("--" .. k .. " is for `convert hf`, not `convert to-hf`") end
  end
  if opts.out and opts.output and opts.out ~= opts.output then cli.usage_error("--out and --output differ; give one") end
  local out = opts.out or opts.output
  if not out then cli.usage_error("--out DIR is required") end
  local dir, info = require("hub.convert_to_hf").convert { module = args[2], out = out, force = opts.force }
  local c = info.config
  print(string.format("Converted %s (%s) to %s: %s, %d layers, hidden %d, %d heads, vocab %d%s%s%s", args[2], info.dir, dir,
    c.architectures[1], c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.vocab_size,
    info.pooler and ", pooler" or ", no pooler", info.mlm and ", masked-LM head" or "",
    info.classifier and (", classifier of " .. info.classifier .. " labels") or ""))
  return 0
end

M.main = cli.command("convert", M, function(opts, args)
  if args[1] == "to-hf" then return to_hf(opts, args) end
  if args[1] ~= "hf" then
    cli.usage_error(args[1] and ("unknown format '" .. args[1] .. "' (hf or to-hf)") or "which direction? (hf or to-hf)")
  end
  if opts.out then cli.usage_error("--out is for `convert to-hf`; `convert hf` writes --output OUT") end
  if #args ~= 2 then cli.usage_error(#args < 2 and "which directory?" or "one directory at a time") end
  if not opts.name then cli.usage_error("--name NAME is required") end
  local dir, manifest = require("hub.convert").hf {
    dir = args[2], name = opts.name, version = opts.version, dtype = opts.dtype, output = opts.output,
    summary = opts.summary, force = opts.force, quiet = opts.quiet, license = opts.license, author = opts.author,
    type = opts.type,
  }
  local c = manifest.config.model
  print(string.format("Converted %s to %s (%s %s: %d layers, hidden %d, %d heads, vocab %d%s%s, %s)", args[2], dir,
    manifest.name, manifest.version, c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.vocab_size,
    c.use_task_id and ", task ids" or "", c.pooler and ", pooler" or ", no pooler", manifest.config.source.dtype))
  local p = manifest.config.pooling
  if p then
    print(string.format("Sentence vectors: %s pooling%s, max_seq_len %d (sentence-transformers)",
      table.concat(p.modes, "+"), p.normalize and ", L2-normalised" or "", manifest.config.max_seq_len))
  end
  return 0
end)

return M
