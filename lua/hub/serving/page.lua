-- hub.serving.page: the HTML of GET / -- a form per served module (text in, JSON out) that
-- posts to /predict/<module> (and /embedding/<module> for encoders) from the browser.
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
    local enc = type(mf.type) == "string" and mf.type:find("embedding", 1, true) or (type(mf.config) == "table" and type(mf.config.model) == "table")
    local id = esc(m.name)
    parts[#parts + 1] = string.format([[<section><h2>%s <small>%s · %s</small></h2><p><small>%s</small></p>
<textarea id="in-%s">%s</textarea><br>
<button onclick="go('%s','predict')">POST /predict/%s</button>%s
<pre id="out-%s"></pre></section>
]], id, esc(mf.version), esc(mf.type), esc(mf.summary), id, enc and "This is a test." or "百度是一家高科技公司", id, id,
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
</script></body></html>
]]
  return table.concat(parts)
end

return M
