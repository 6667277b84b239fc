-- hub.serving.page: the HTML of GET / -- a form per served module (text in, JSON out) that
-- posts to /predict/<module> (and /embedding/<module> for encoders) from the browser.  Opened
-- as /?run=1 it posts every form's sample text at once (a link that shows each module's answer;
-- tests/lua/test_serving.lua loads it in headless Chromium).
local M = {}

local function esc(s)
  return (tostring(s or ""):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

function M.html(cfg)
  local parts = { [[<!doctype html>
<html><head><meta charset="utf-8"><title>hubrun serving</title>
<style>body{font:15px sans-serif;max-width:52em;margin:2em auto;padding:0 1em}
section{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:1em 0}
textarea{width:100%;height:4em}pre{background:#f4f4f4;padding:.5em;max-height:16em;overflow:auto;white-space:pre-wrap}
small{color:#666}</style></head><body>
<h1>hubrun serving</h1><p><small>One text per line; the answer is the endpoint's JSON.
<a href="/modules">/modules</a> · <a href="/health">/health</a> · <a href="/metrics">/metrics</a></small></p>
]] }
  for _, m in ipairs(cfg.served) do
    local mf = m.manifest
    local ty = type(mf.type) == "string" and mf.type or ""
    -- an encoder (sentence vectors, or a pretrained model without a task) also gets /embedding
    local enc = ty:find("embedding", 1, true) or ty:find("semantic_model", 1, true)
    -- the sample text: English for the English sentence encoders, a review for classifiers
    local sample = ty:find("embedding", 1, true) and "This is a test."
      or ty:find("classification", 1, true) and "这家酒店很干净，服务也很好" or "百度是一家高科技公司"
    local id = esc(m.name)
    parts[#parts + 1] = string.format([[<section><h2>%s <small>%s · %s</small></h2><p><small>%s</small></p>
<textarea id="in-%s">%s</textarea><br>
<button data-module="%s" data-kind="predict" onclick="go('%s','predict')">POST /predict/%s</button>%s
<pre id="out-%s"></pre></section>
]], id, esc(mf.version), esc(mf.type), esc(mf.summary), id, sample, id, id, id,
      enc and string.format([[ <button onclick="go('%s','embedding')">POST /embedding/%s</button>]], id, id) or "", id)
  end
  parts[#parts + 1] = [[<script>
async function go(name, kind) {
  const text = document.getElementById('in-' + name).value.split('\n').filter(s => s.trim() !== '');
  const out = document.getElementById('out-' + name);
  out.textContent = '...';
  try {
    const r = await fetch('/' + kind + '/' + name, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                     body: JSON.stringify({text})});
    const j = await r.json();
    out.textContent = r.status + '\n' + JSON.stringify(j, null, 1).slice(0, 4000);
  } catch (e) { out.textContent = String(e); }
}
if (new URLSearchParams(location.search).has('run'))
  document.querySelectorAll('button[data-module]').forEach(b => go(b.dataset.module, b.dataset.kind));
</script></body></html>
]]
  return table.concat(parts)
end

return M
