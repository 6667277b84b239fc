-- ernie-tiny-zh, hubrun's own pretrained Chinese ERNIE (modules/ernie-tiny-zh, docs/pretraining.md),
-- as `make registry` builds it: it installs from the default registry, `hubrun run` fills a
-- [MASK], its held-out masked-LM accuracy (the corpus' held-out documents, the run's own fixed
-- masks, 12,675 masked tokens) is far above an untrained network's, and its fill-mask on FILLS
-- (sentences written for this test, none of them in the corpus) is printed and counted.
-- Skipped when the module is not built (no committed weights), failed then under HUB_REQUIRE_DATA
-- if the weights are committed.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"

-- Measured on the committed weights, ernie-tiny-zh 1.6.0 (docs/pretraining.md: 1.5.0 continued
-- 5,000 steps, the reviews weighted three times): held-out accuracy 0.3015 (loss 4.011; 1.5.0:
-- 0.2935; 1.4.0: 0.2799; 1.3.0: 0.2563; 1.2.0: 0.2346; 1.1.0: 0.2008; 1.0.0: 0.1585) against 0.0001
-- (9.256) untrained; the expected character in the top 5 for 6 of the 16 FILLS (1.5.0 and 1.4.0:
-- 5, 1.3.0: 2).  The fill-mask
-- bar is what this model does, not what a good one does: raise MIN_TOP5 with the next,
-- longer-trained weights (the issue's aim is a sensible top 1).
local MIN_TOP5 = 5         -- of #FILLS
local MIN_ACC = 0.295      -- held-out masked-LM accuracy (all held-out sequences)
local MIN_GAIN = 0.29      -- above the untrained network on the same masks

local HUBRUN = os.getenv("HUBRUN") or arg[-1]
local here = (arg[0]:match("^(.*)/") or ".") .. "/../.."
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end -- (a file:// registry URL needs it absolute)
local reg = os.getenv("HUB_REGISTRY_DIR")
reg = (reg and reg ~= "" and reg or here .. "/build/registry")
local ver = (T.read_file(here .. "/modules/ernie-tiny-zh/VERSION") or "1.0.0"):match("%d+%.%d+%.%d+")
local dir = reg .. "/ernie-tiny-zh/" .. ver
if not T.read_file(dir .. "/module.json") then
  if T.read_file(here .. "/modules/ernie-tiny-zh/model.safetensors") then
    T.data_missing("ernie-tiny-zh is not built", "HUB_REQUIRE_DATA is set but " .. dir .. " is not built (make registry)")
  else
    print("skipped: modules/ernie-tiny-zh has no weights")
  end
  T.finish()
  return
end

-- install + run from the default registry into a store of its own
local q = T.q
local tmp = io.popen("mktemp -d /tmp/hub_ernietiny_XXXXXX"):read("*l")
local env = "HUB_HOME=" .. q(tmp) .. " HUB_DEFAULT_REGISTRY=" .. q("file://" .. reg .. "/index.json") .. " "
local out = io.popen(env .. q(HUBRUN) .. " install ernie-tiny-zh 2>&1"):read("*a")
ok(out:find("ernie%-tiny%-zh") ~= nil and io.open(tmp .. "/modules/ernie-tiny-zh") ~= nil or out:find("installed"),
  "hubrun install ernie-tiny-zh", out)
out = io.popen(env .. q(HUBRUN) .. " run ernie-tiny-zh --input_text " .. q("北京是中国的首[MASK]") .. " 2>&1"):read("*a")
ok(out:find("[MASK]1: ", 1, true) ~= nil, "hubrun run prints the fills of [MASK]", out)
print(out)

local m = hub.module(dir)
local FILLS = {
  { "北京是中国的首[MASK]。", "都" },
  { "中华人民共和[MASK]成立于一九四九年。", "国" },
  { "我们明天去商店买东[MASK]。", "西" },
  { "打开文件菜单，然后选择保[MASK]。", "存" },
  { "请在对话框中单[MASK]确定按钮。", "击" },
  { "用鼠标右键单击这个单元[MASK]。", "格" },
  { "安装软件包需要管理员权[MASK]。", "限" },
  { "他们在北京召开了新闻发布[MASK]。", "会" },
  { "这台电脑的操作系[MASK]是什么？", "统" },
  { "请输入你的用户名和密[MASK]。", "码" },
  { "房间很干净，下次还会再[MASK]。", "来" },
  { "这本书的内容非常精[MASK]。", "彩" },
  { "我们要努力学[MASK]科学知识。", "习" },
  { "今年的经济发展速度很[MASK]。", "快" },
  { "在工具栏上单击[MASK]式按钮。", "格" },
  { "中国共产[MASK]第十五次全国代表大会", "党" },
}
local texts = {}
for i, f in ipairs(FILLS) do texts[i] = f[1] end
local res = m:fill_mask(texts, { top_k = 5 })
local hits, lines = 0, {}
for i, f in ipairs(FILLS) do
  local top, hit = {}, false
  for r, c in ipairs(res[i][1]) do top[r] = c.token; if c.token == f[2] then hit = true end end
  if hit then hits = hits + 1 end
  lines[#lines + 1] = string.format("%s %s -> %s", hit and "+" or "-", f[1], table.concat(top, " "))
end
print(table.concat(lines, "\n"))
ok(hits >= MIN_TOP5, string.format("fill-mask: the expected character in the top 5 for %d of %d sentences (>= %d)", hits, #FILLS, MIN_TOP5))

-- held-out masked-LM accuracy vs an untrained network of the same shape
local data_dir = os.getenv("HUB_DATA") or (here .. "/build/data")
local heldout = data_dir .. "/corpus/heldout.txt"
if not T.read_file(heldout) then
  T.data_missing("held-out accuracy (no corpus; make corpus)", "HUB_REQUIRE_DATA is set but " .. heldout .. " is missing")
else
  local pre = require "hub.pretrain"
  local data = require "hub.pretrain.data"
  local tk = m.tokenizer
  local lac = hub.lac.load()
  local seqs = data.prepare { corpus = heldout, tokenizer = tk, max_seq_len = 128, progress = false,
    lac = { tag_chars = function(_, t, o) return lac:tag_chars(t, o) end } }
  local special, first = {}, 0
  for _, t in ipairs { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" } do
    local id = tk:token_to_id(t); special[#special + 1] = id; first = math.max(first, id + 1)
  end
  local eo = { seed = 7920,   -- the run's own evaluation masks (hub.pretrain: seed + 7919)
                vocab_size = m.config.vocab_size, mask_id = tk:token_to_id("[MASK]"), special_ids = special,
               first_normal = first, ratio = 0.15 }
  local trained = pre.evaluate(m.model, seqs, eo)
  hub.manual_seed(1)
  local cfg = {}
  for k, v in pairs(m.config) do cfg[k] = v end
  cfg.mlm_head = true
  local untrained = pre.evaluate(hub.models.ernie.init_weights(hub.models.ernie.new(cfg)), seqs, eo)
  print(string.format("held-out masked-LM accuracy over %d masked tokens: trained %.4f (loss %.3f), untrained %.4f (loss %.3f)",
    trained.tokens, trained.acc, trained.loss, untrained.acc, untrained.loss))
  ok(trained.tokens > 1000, "enough masked tokens", trained.tokens)
  ok(trained.acc >= MIN_ACC, string.format("held-out accuracy %.4f >= %.2f", trained.acc, MIN_ACC))
  ok(trained.acc - untrained.acc >= MIN_GAIN, string.format("gain over untrained %.4f >= %.2f", trained.acc - untrained.acc, MIN_GAIN))
  ok(trained.loss < untrained.loss - 2, "held-out loss far below the untrained network's", trained.loss)
end

os.execute("rm -rf " .. q(tmp))
T.finish()
