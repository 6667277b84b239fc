-- hub.datasets.files: user data in TSV, CSV (RFC 4180) and JSON Lines files, read into the data
-- set object of hub.datasets.dataset (docs/datasets.md has the whole contract).
--
--   hub.datasets.tsv{ path = "all.tsv", labels = { "neg", "pos" } }          -- all rows -> train
--   hub.datasets.tsv{ dir = "data/x" }            -- data/x/train.tsv, dev.tsv, test.tsv (those present)
--   hub.datasets.csv{ train = "a.csv", dev = "b.csv", text_a = "review", label = 3 }
--   hub.datasets.jsonl{ path = "x.jsonl", split = true, kind = "multi_label" }
--
-- How a row becomes an example: the columns text_a, text_b and label are named (a header name,
-- or a JSON key) or numbered (1-based, TSV/CSV); text_a must be a non-empty string (not only
-- spaces); text_b likewise when the column is asked for; the label is read by kind:
--   classification / pair   a label name (a JSON number is written as its integer, "1")
--   multi_label             names separated by label_sep (default ","), or a JSON array
--   regression              a number
--   sequence                tag names separated by label_sep (default " "), or a JSON array,
--                           one per character of text_a
-- Labels given (labels = {...}) are the label map (id = position - 1) and any other name is a
-- bad row; otherwise the names found in all files are the map, sorted (numerically when they
-- are all integers, else by bytes).  The kind is the option, or else multi_label when a JSON
-- label is an array, pair when text_b is read, classification otherwise.
--
-- A bad row (wrong number of columns, invalid UTF-8, an empty text, an unknown or malformed
-- label, invalid JSON) is an error "tsv: FILE:LINE: what", or with on_error = "skip" is left
-- out, counted (ds.counts.skipped) and listed (ds.skipped, the messages), and one line on
-- stderr reports how many.  Blank lines are ignored; a UTF-8 byte order mark is dropped.
local core = require "hub.core"
local textutil = require "hub.textutil"
local splits = require "hub.datasets.splits"
local dataset = require "hub.datasets.dataset"

local M = {}

local function read_all(path, fmt)
  local f, err = io.open(path, "rb")
  if not f then error(string.format("%s: cannot open %s", fmt, tostring(err)), 0) end
  local s = f:read("*a")
  f:close()
  if s:sub(1, 3) == "\239\187\191" then s = s:sub(4) end
  return s
end

-- Records of a TSV text: { {fields...}, line = n }, blank lines skipped.
local function tsv_records(s, sep)
  local out, n = {}, 0
  for line in (s .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:byte(-1) == 13 then line = line:sub(1, -2) end
    if line:find("%S") then
      local fields, start = {}, 1
      while true do
        local i = line:find(sep, start, true)
        fields[#fields + 1] = line:sub(start, (i or 0) - 1)
        if not i then break end
        start = i + #sep
      end
      out[#out + 1] = { fields = fields, line = n, raw = line }
    end
  end
  if s == "" then return {} end
  return out
end

-- Records of a CSV text (RFC 4180: "quoted" fields may hold the separator, line breaks and ""
-- for a quote).  A record's line is the line it starts on.  Malformed quoting gives a record
-- { line = n, err = "what" } instead of fields: text after a closing quote (the rest of that
-- line is skipped) or a quote never closed (the rest of the file).
local function csv_records(s, sep)
  local out = {}
  local i, n, line = 1, #s, 1
  local sepb = sep:byte()
  local stop = "[\n\r" .. (sep:find("%p") and "%" or "") .. sep .. "]"
  while i <= n do
    local start_line = line
    local fields, raw_start = {}, i
    local field = {}
    local at_field_start = true
    local err
    while true do
      local c = s:byte(i)
      if c == nil then fields[#fields + 1] = table.concat(field); break end
      if at_field_start and c == 34 then  -- a quoted field
        i = i + 1
        while true do
          local j = s:find('"', i, true)
          if not j then err = "a quoted field is not closed"; i = n + 1; break end
          local chunk = s:sub(i, j - 1)
          for _ in chunk:gmatch("\n") do line = line + 1 end
          field[#field + 1] = chunk
          if s:byte(j + 1) == 34 then field[#field + 1] = '"'; i = j + 2
          else i = j + 1; break end
        end
        if err then break end
        local c2 = s:byte(i)
        if c2 ~= nil and c2 ~= sepb and c2 ~= 10 and c2 ~= 13 then
          err = string.format("'%s' after a closing quote (expected '%s' or the end of the line)", string.char(c2), sep)
          local j = s:find("\n", i, true) or n
          i = j + 1; line = line + 1
          break
        end
        at_field_start = false
      elseif c == sepb then
        fields[#fields + 1] = table.concat(field); field = {}; at_field_start = true; i = i + 1
      elseif c == 10 or c == 13 then
        fields[#fields + 1] = table.concat(field)
        if c == 13 and s:byte(i + 1) == 10 then i = i + 1 end
        i = i + 1; line = line + 1
        break
      else
        local j = s:find(stop, i) or n + 1
        field[#field + 1] = s:sub(i, j - 1)
        i = j
        at_field_start = false
      end
    end
    if err then
      out[#out + 1] = { line = start_line, err = err }
    elseif not (#fields == 1 and not fields[1]:find("%S")) then
      out[#out + 1] = { fields = fields, line = start_line, raw = s:sub(raw_start, i - 1) }
    end
  end
  return out
end

local kinds = { classification = true, pair = true, multi_label = true, regression = true, sequence = true }

local spec = {
  path = "string", train = "string", dev = "string", test = "string", dir = "string",
  text_a = "string|number", text_b = "string|number|boolean", label = "string|number|boolean",
  labels = "table", kind = "string", label_sep = "string", header = "boolean", sep = "string",
  on_error = "string", split = "boolean", name = "string",
}

-- The files to read: { {split, path}, ... }.
local function files_of(fmt, opts)
  local ext = fmt
  local forms = (opts.path and 1 or 0) + ((opts.train or opts.dev or opts.test) and 1 or 0) + (opts.dir and 1 or 0)
  if forms ~= 1 then
    core.raise(string.format("%s: give exactly one of path = FILE, train/dev/test = FILES or dir = DIR", fmt))
  end
  if opts.split and not opts.path then core.raise(fmt .. ": split = true needs path = FILE (one file to split)") end
  if opts.path then return { { "train", opts.path } } end
  local out = {}
  for _, s in ipairs { "train", "dev", "test" } do
    if opts.dir then
      local p = opts.dir .. "/" .. s .. "." .. ext
      local f = io.open(p, "rb")
      if f then f:close(); out[#out + 1] = { s, p } end
    elseif opts[s] then
      out[#out + 1] = { s, opts[s] }
    end
  end
  if #out == 0 then core.raise(string.format("%s: no train.%s, dev.%s or test.%s in %s", fmt, ext, ext, ext, opts.dir)) end
  return out
end

local function is_int_string(s) return s:find("^%-?%d+$") ~= nil end

-- Sorted label names: numerically when all are integers.
local function sort_names(names)
  local all_int = true
  for _, n in ipairs(names) do if not is_int_string(n) then all_int = false; break end end
  if all_int then table.sort(names, function(a, b) return tonumber(a) < tonumber(b) end)
  else table.sort(names) end
  return names
end

local function label_name(v)
  if type(v) == "string" then return v end
  if type(v) == "number" and v == math.floor(v) then return string.format("%d", v) end
  return nil
end

-- The checked options, with defaults filled in.
local function settings(fmt, opts)
  if type(opts) ~= "table" then core.argerror(1, fmt, "an options table such as { path = 'data.tsv' }", type(opts)) end
  core.check_options(opts, spec, fmt, 1)
  local o = { fmt = fmt, on_error = opts.on_error or "raise", header = opts.header, kind = opts.kind,
    sep = opts.sep or (fmt == "tsv" and "\t" or ",") }
  if o.on_error ~= "raise" and o.on_error ~= "skip" then
    core.raise(string.format("%s: on_error must be 'raise' or 'skip', got '%s'", fmt, tostring(o.on_error)))
  end
  if o.kind and not kinds[o.kind] then
    core.raise(string.format("%s: unknown kind '%s' (classification, pair, multi_label, regression, sequence)", fmt, o.kind))
  end
  for i, l in ipairs(opts.labels or {}) do
    if type(l) ~= "string" then core.raise(string.format("%s: labels[%d] is a %s, expected a string", fmt, i, type(l))) end
  end
  if fmt == "jsonl" then
    for _, k in ipairs { "text_a", "text_b", "label" } do
      if type(opts[k]) == "number" then core.raise(string.format("jsonl: %s must name a JSON key, got the number %d", k, opts[k])) end
    end
  end
  if o.header == nil then o.header = fmt ~= "jsonl" end
  if fmt == "csv" and #o.sep ~= 1 then core.raise("csv: sep must be one character, got '" .. o.sep .. "'") end
  o.label_sep = opts.label_sep or (o.kind == "sequence" and " " or ",")
  return o
end

-- Raw rows of a JSON Lines text: appended to rows as { a, b, l (label value), want_b, want_l,
-- line, ka, kb } (ka, kb: the keys, for messages); bad(line, msg) for bad lines.
local function jsonl_rows(s, opts, bad, rows)
  local cjson = require "cjson"
  local n = 0
  for line in (s .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:find("%S") then
      local u = textutil.utf8_error(line)
      local ok, obj
      if u then bad(n, string.format("invalid UTF-8 at byte %d of the line", u))
      else
        ok, obj = pcall(cjson.decode, line)
        if not ok then bad(n, "invalid JSON (" .. tostring(obj):gsub("^.-:%d+: ", "") .. ")")
        elseif type(obj) ~= "table" or obj[1] ~= nil then bad(n, "expected a JSON object {\"text_a\": ..., \"label\": ...}")
        else
          local ka = opts.text_a or "text_a"
          local kb = opts.text_b
          if kb == nil then kb = obj.text_b ~= nil and "text_b" or false end
          local kl = opts.label
          if kl == nil then kl = "label" end
          local b = kb and obj[kb]
          if b == cjson.null then b = nil end
          local l = kl and obj[kl]
          if l == cjson.null then l = nil end
          rows[#rows + 1] = { a = obj[ka], b = b, want_b = kb and true, l = l, want_l = kl and true, line = n, ka = ka, kb = kb }
        end
      end
    end
  end
end

-- The column numbers of text_a, text_b and label in a TSV/CSV file (see the top of this file).
local function columns(o, opts, path, recs)
  local fmt, header = o.fmt, o.header
  local first = recs[1]
  if first and first.err then error(string.format("%s: %s:%d: %s", fmt, path, first.line, first.err), 0) end
  if header and not first then error(string.format("%s: %s: empty file (a header line was expected)", fmt, path), 0) end
  local width = first and #first.fields
  local names = {}
  if header then for i, name in ipairs(first.fields) do names[name] = i end end
  local function col(v, default, what, optional)
    if v == false then return nil end
    if v == nil then v = default end
    if v == nil then return nil end
    if type(v) == "number" then
      if width and (v < 1 or v > width or v ~= math.floor(v)) then
        core.raise(string.format("%s: %s: %s = %s is not a column (1..%d)", fmt, path, what, tostring(v), width))
      end
      return v
    end
    if not header then core.raise(string.format("%s: %s: %s = '%s' names a column but header = false", fmt, path, what, v)) end
    if names[v] then return names[v] end
    if optional then return nil end
    core.raise(string.format("%s: %s:1: no column '%s' in the header (%s)", fmt, path, v, table.concat(first.fields, ", ")))
  end
  if header then
    return col(opts.text_a, "text_a", "text_a"), col(opts.text_b, opts.text_b == nil and "text_b" or nil, "text_b", opts.text_b == nil),
      col(opts.label, "label", "label"), width
  end
  local three = width == 3 and opts.text_a == nil and opts.label == nil
  return col(opts.text_a, 1, "text_a"), col(opts.text_b, three and 2 or nil, "text_b"),
    col(opts.label, width and width >= 2 and width or nil, "label"), width
end

-- Raw rows of a TSV or CSV text (as jsonl_rows).
local function table_rows(s, o, opts, path, bad, rows)
  local recs = (o.fmt == "csv" and csv_records or tsv_records)(s, o.sep)
  local ca, cb, cl, width = columns(o, opts, path, recs)
  for r = o.header and 2 or 1, #recs do
    local rec = recs[r]
    local u = not rec.err and textutil.utf8_error(rec.raw)
    if rec.err then bad(rec.line, rec.err)
    elseif u then bad(rec.line, string.format("invalid UTF-8 at byte %d of the row", u))
    elseif #rec.fields ~= width then
      bad(rec.line, string.format("%d columns, expected %d%s", #rec.fields, width, o.header and " (as the header)" or " (as the first row)"))
    else
      local f = rec.fields
      rows[#rows + 1] = { a = f[ca], b = cb and f[cb], want_b = cb ~= nil, l = cl and f[cl], want_l = cl ~= nil,
        line = rec.line, ka = "text_a", kb = "text_b" }
    end
  end
end

-- The kind the rows call for: multi_label when a label is a list, pair with a text_b column.
local function infer_kind(rows)
  for _, r in ipairs(rows) do if type(r.l) == "table" then return "multi_label" end end
  for _, r in ipairs(rows) do if r.want_b then return "pair" end end
  return "classification"
end

-- The label names of a raw label value, or nil and a message.
local function names_of(l, kind, label_sep)
  if kind == "multi_label" or kind == "sequence" then
    local list = {}
    if type(l) == "string" then
      local sp = label_sep == " " and "%S+" or ("[^" .. label_sep:gsub("%p", "%%%0") .. "]+")
      for p in l:gmatch(sp) do
        p = p:match("^%s*(.-)%s*$")
        if p ~= "" then list[#list + 1] = p end
      end
    elseif type(l) == "table" then
      for i, v in ipairs(l) do
        local n = label_name(v)
        if not n then return nil, string.format("label item %d is a %s, expected a name", i, type(v)) end
        list[#list + 1] = n
      end
    else
      return nil, string.format("label is a %s, expected %s", type(l), kind == "sequence" and "tags" or "names")
    end
    return list
  end
  local n = label_name(l)
  if not n then return nil, string.format("label is a %s, expected a name", type(l)) end
  return { n }
end

-- A text field, or nil and a message.
local function text_field(v, key, check_utf8)
  if type(v) ~= "string" then
    return nil, v == nil and string.format("no %s", key) or string.format("%s is a %s, expected a string", key, type(v))
  end
  if not v:find("%S") then return nil, string.format("empty %s", key) end
  if check_utf8 and textutil.utf8_error(v) then return nil, string.format("invalid UTF-8 in %s", key) end
  return v
end

-- The label of a raw row for kind, or nil and a message.
local function label_of(r, a, o, labels, label_ids)
  local kind = o.kind
  if r.l == nil then return nil, "no label" end
  if kind == "regression" then
    local v = tonumber(r.l)
    if v == nil or v ~= v or v == math.huge or v == -math.huge then
      return nil, string.format("label '%s' is not a number", tostring(r.l))
    end
    return v
  end
  local ns, err = names_of(r.l, kind, o.label_sep)
  if not ns then return nil, err end
  local ids = {}
  for _, n in ipairs(ns) do
    local id = label_ids[n]
    if id == nil then return nil, string.format("unknown label '%s' (labels: %s)", n, table.concat(labels, ", ")) end
    ids[#ids + 1] = id
  end
  if kind == "multi_label" then
    table.sort(ids)
    local u = {}
    for _, id in ipairs(ids) do if u[#u] ~= id then u[#u + 1] = id end end
    return u
  elseif kind == "sequence" then
    local nch = 0
    for _ in textutil.chars(a) do nch = nch + 1 end
    if nch ~= #ids then return nil, string.format("%d tags for %d characters", #ids, nch) end
    return ids
  end
  if #ids ~= 1 then return nil, "expected one label" end
  return ids[1]
end

local function read(fmt, opts)
  local o = settings(fmt, opts)
  local files = files_of(fmt, opts)
  local skipped, rows = {}, {}
  for file_no, fs in ipairs(files) do
    local split, path = fs[1], fs[2]
    local function bad(line, msg)
      local m = string.format("%s: %s:%d: %s", fmt, path, line, msg)
      if o.on_error == "raise" then error(m, 0) end
      skipped[#skipped + 1] = { file = file_no, line = line, msg = m }
    end
    local from = #rows + 1
    local s = read_all(path, fmt)
    if fmt == "jsonl" then jsonl_rows(s, opts, bad, rows) else table_rows(s, o, opts, path, bad, rows) end
    for k = from, #rows do rows[k].split, rows[k].path, rows[k].bad = split, path, bad end
  end

  o.kind = o.kind or infer_kind(rows)
  local labels = opts.labels and { unpack(opts.labels) } or nil
  if o.kind ~= "regression" and not labels then  -- every name found, sorted
    local seen, list = {}, {}
    for _, r in ipairs(rows) do
      for _, n in ipairs(r.l ~= nil and names_of(r.l, o.kind, o.label_sep) or {}) do
        if not seen[n] then seen[n] = true; list[#list + 1] = n end
      end
    end
    labels = sort_names(list)
  end
  local label_ids = {}
  for i, n in ipairs(labels or {}) do label_ids[n] = i - 1 end

  local out = { train = {}, dev = {}, test = {} }
  for _, r in ipairs(rows) do
    local a, err = text_field(r.a, r.ka, fmt == "jsonl")
    local b, label
    if a and r.want_b then b, err = text_field(r.b, r.kb, fmt == "jsonl") end
    if a and o.kind == "sequence" then a = a:gsub("\2", "") end   -- PaddleHub's character separator
    if not err and r.want_l then label, err = label_of(r, a, o, labels, label_ids) end
    if err then r.bad(r.line, err)
    else
      local split = opts.split and splits.of("user:" .. a .. "\t" .. (b or "")) or r.split
      local l = out[split]
      l[#l + 1] = { text_a = a, text_b = b, label = label, id = r.path .. ":" .. r.line }
    end
  end

  table.sort(skipped, function(x, y) if x.file ~= y.file then return x.file < y.file end return x.line < y.line end)
  for i, sk in ipairs(skipped) do skipped[i] = sk.msg end
  if #skipped > 0 then
    io.stderr:write(string.format("%s: skipped %d bad row%s (first: %s)\n", fmt, #skipped, #skipped == 1 and "" or "s", skipped[1]))
  end
  local kept = #out.train + #out.dev + #out.test
  local sources = {}
  for i, f in ipairs(files) do sources[i] = f[2] end
  local ds = dataset.new { name = opts.name or sources[1]:match("([^/]+)$"), kind = o.kind,
    labels = o.kind == "regression" and {} or labels, train = out.train, dev = out.dev, test = out.test,
    counts = { rows = kept + #skipped, skipped = #skipped }, source = #sources == 1 and sources[1] or sources }
  ds.skipped = skipped
  return ds
end

function M.tsv(opts) return read("tsv", opts) end
function M.csv(opts) return read("csv", opts) end
function M.jsonl(opts) return read("jsonl", opts) end

M.csv_records = csv_records
M.tsv_records = tsv_records

return M
