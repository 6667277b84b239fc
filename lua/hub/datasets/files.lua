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

local function read(fmt, opts)
  if type(opts) ~= "table" then core.argerror(1, fmt, "an options table such as { path = 'data.tsv' }", type(opts)) end
  core.check_options(opts, spec, fmt, 1)
  local on_error = opts.on_error or "raise"
  if on_error ~= "raise" and on_error ~= "skip" then
    core.raise(string.format("%s: on_error must be 'raise' or 'skip', got '%s'", fmt, tostring(on_error)))
  end
  if opts.kind and not kinds[opts.kind] then
    core.raise(string.format("%s: unknown kind '%s' (classification, pair, multi_label, regression, sequence)", fmt, opts.kind))
  end
  if opts.labels then
    for i, l in ipairs(opts.labels) do
      if type(l) ~= "string" then core.raise(string.format("%s: labels[%d] is a %s, expected a string", fmt, i, type(l))) end
    end
  end
  if fmt == "jsonl" then
    for _, k in ipairs { "text_a", "text_b", "label" } do
      if type(opts[k]) == "number" then core.raise(string.format("jsonl: %s must name a JSON key, got the number %d", k, opts[k])) end
    end
  end
  local files = files_of(fmt, opts)
  local header = opts.header
  if header == nil then header = fmt ~= "jsonl" end
  local sep = opts.sep or (fmt == "tsv" and "\t" or ",")
  if fmt == "csv" and #sep ~= 1 then core.raise("csv: sep must be one character, got '" .. sep .. "'") end
  local kind = opts.kind
  local label_sep = opts.label_sep or (kind == "sequence" and " " or ",")
  local skipped = {}
  local rows = {}   -- { split, text_a, text_b, label (raw), where }

  local skipped_files_seen = 0
  for _, fs in ipairs(files) do
    local split, path = fs[1], fs[2]
    skipped_files_seen = skipped_files_seen + 1
    local file_no = skipped_files_seen
    local function bad(line, msg)
      local m = string.format("%s: %s:%d: %s", fmt, path, line, msg)
      if on_error == "raise" then error(m, 0) end
      skipped[#skipped + 1] = { file = file_no, line = line, msg = m }
    end
    local s = read_all(path, fmt)
    local cols_a, cols_b, cols_l, width
    if fmt == "jsonl" then
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
              rows[#rows + 1] = { split = split, a = obj[ka], b = b, want_b = kb and true, l = l,
                want_l = kl and true, path = path, line = n, bad = bad, ka = ka, kb = kb, kl = kl }
            end
          end
        end
      end
    else
      local recs = (fmt == "csv" and csv_records or tsv_records)(s, sep)
      if header and recs[1] and recs[1].err then error(string.format("%s: %s:%d: %s", fmt, path, recs[1].line, recs[1].err), 0) end
      local first = 1
      local names = {}
      if header then
        if #recs == 0 then error(string.format("%s: %s: empty file (a header line was expected)", fmt, path), 0) end
        for i, name in ipairs(recs[1].fields) do names[name] = i end
        width = #recs[1].fields
        first = 2
      elseif recs[1] then
        if recs[1].err then error(string.format("%s: %s:%d: %s", fmt, path, recs[1].line, recs[1].err), 0) end
        width = #recs[1].fields
      end
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
        local have = {}
        for _, h in ipairs(recs[1].fields) do have[#have + 1] = h end
        core.raise(string.format("%s: %s:1: no column '%s' in the header (%s)", fmt, path, v, table.concat(have, ", ")))
      end
      if header then
        cols_a = col(opts.text_a, "text_a", "text_a")
        cols_b = col(opts.text_b, opts.text_b == nil and "text_b" or nil, "text_b", opts.text_b == nil)
        cols_l = col(opts.label, "label", "label")
      else
        local three = width == 3
        cols_a = col(opts.text_a, 1, "text_a")
        cols_b = col(opts.text_b, three and opts.text_a == nil and opts.label == nil and 2 or nil, "text_b")
        cols_l = col(opts.label, width and width >= 2 and width or nil, "label")
      end
      for r = first, #recs do
        local rec = recs[r]
        local u = not rec.err and textutil.utf8_error(rec.raw)
        if rec.err then bad(rec.line, rec.err)
        elseif u then bad(rec.line, string.format("invalid UTF-8 at byte %d of the row", u))
        elseif #rec.fields ~= width then
          bad(rec.line, string.format("%d columns, expected %d%s", #rec.fields, width, header and " (as the header)" or " (as the first row)"))
        else
          local f = rec.fields
          rows[#rows + 1] = { split = split, a = f[cols_a], b = cols_b and f[cols_b], want_b = cols_b ~= nil,
            l = cols_l and f[cols_l], want_l = cols_l ~= nil, path = path, line = rec.line, bad = bad,
            ka = "text_a", kb = "text_b", kl = "label" }
        end
      end
    end
  end

  -- The kind, then the labels.
  if not kind then
    kind = "classification"
    for _, r in ipairs(rows) do
      if type(r.l) == "table" then kind = "multi_label"; break end
    end
    if kind == "classification" then
      for _, r in ipairs(rows) do if r.want_b then kind = "pair"; break end end
    end
  end
  local function names_of(r)  -- the label names of a row, or nil, msg
    local l = r.l
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

  local labels = opts.labels and { unpack(opts.labels) } or nil
  local label_ids = {}
  if kind ~= "regression" and not labels then
    local seen, list = {}, {}
    for _, r in ipairs(rows) do
      if r.l ~= nil then
        local ns = names_of(r)
        for _, n in ipairs(ns or {}) do if not seen[n] then seen[n] = true; list[#list + 1] = n end end
      end
    end
    labels = sort_names(list)
  end
  for i, n in ipairs(labels or {}) do label_ids[n] = i - 1 end

  local out = { train = {}, dev = {}, test = {} }
  for _, r in ipairs(rows) do
    local function text(v, key)
      if type(v) ~= "string" then
        return nil, v == nil and string.format("no %s", key) or string.format("%s is a %s, expected a string", key, type(v))
      end
      if not v:find("%S") then return nil, string.format("empty %s", key) end
      if fmt == "jsonl" then
        local u = textutil.utf8_error(v)
        if u then return nil, string.format("invalid UTF-8 in %s", key) end
      end
      return v
    end
    local a, err = text(r.a, r.ka)
    local b
    if a and r.want_b then b, err = text(r.b, r.kb) end
    local label
    if a and (b or not r.want_b) and r.want_l then
      if r.l == nil then err = "no label"
      elseif kind == "regression" then
        label = tonumber(r.l)
        if label == nil or label ~= label or label == math.huge or label == -math.huge then
          err = string.format("label '%s' is not a number", tostring(r.l)); label = nil
        end
      else
        local ns, e = names_of(r)
        if not ns then err = e
        else
          local ids = {}
          for _, n in ipairs(ns) do
            local id = label_ids[n]
            if id == nil then
              err = string.format("unknown label '%s' (labels: %s)", n, table.concat(labels, ", ")); break
            end
            ids[#ids + 1] = id
          end
          if not err then
            if kind == "multi_label" then
              table.sort(ids)
              local u = {}
              for _, id in ipairs(ids) do if u[#u] ~= id then u[#u + 1] = id end end
              label = u
            elseif kind == "sequence" then
              a = a:gsub("\2", "")
              local nch = 0
              for _ in textutil.chars(a) do nch = nch + 1 end
              if nch ~= #ids then err = string.format("%d tags for %d characters", #ids, nch)
              else label = ids end
            elseif #ids ~= 1 then err = "expected one label"
            else label = ids[1] end
          end
        end
      end
    end
    if err then r.bad(r.line, err)
    else
      local split = r.split
      if opts.split then split = splits.of("user:" .. a .. "\t" .. (b or "")) end
      local l = out[split]
      l[#l + 1] = { text_a = a, text_b = b, label = label, id = r.path .. ":" .. r.line }
    end
  end
  table.sort(skipped, function(x, y) if x.file ~= y.file then return x.file < y.file end return x.line < y.line end)
  for i, s in ipairs(skipped) do skipped[i] = s.msg end
  if #skipped > 0 then
    io.stderr:write(string.format("%s: skipped %d bad row%s (first: %s)\n", fmt, #skipped, #skipped == 1 and "" or "s", skipped[1]))
  end
  local kept = #out.train + #out.dev + #out.test
  local sources = {}
  for i, f in ipairs(files) do sources[i] = f[2] end
  local ds = dataset.new { name = opts.name or sources[1]:match("([^/]+)$"), kind = kind,
    labels = kind == "regression" and {} or labels, train = out.train, dev = out.dev, test = out.test,
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
