-- hub.data: in-memory data sets, mini-batches, shuffling and CSV reading.
--
--   local ds = hub.data.TensorDataset{ x = x, y = y }        -- x[N, ...], y[N, ...]
--   local train, test = ds:split(0.8, { seed = 0 })            -- shuffled 80/20 split
--   for xb, yb in train:batches(32, { shuffle = true }) do ... end
--   local rows = hub.data.csv("file.csv")                      -- { {1, 2, 3}, ... }
--   hub.data.text                                              -- text features: data/text.lua
--
-- A TensorDataset holds tensors whose first dimension is the example index.  Batches are built
-- with index_select and an i64 index tensor, so they are copies and may be used freely.
-- Shuffling is a Fisher-Yates over a Lua array driven by splitmix64 (64-bit integer arithmetic
-- on LuaJIT's uint64_t cdata, so it is exact and the same on every machine).  Its seed is the
-- `seed` option when given (the same order on every call; add `epoch` to vary it per epoch), or
-- else is drawn from hub's own generator, so after hub.manual_seed(n) a whole training run
-- (initial weights, dropout and batch order alike) is reproducible while each epoch still sees
-- a new order.
local core = require "hub.core"
local is_tensor = core.is_tensor

local data = {}

local function hub() return require "hub" end

-- splitmix64: a tiny, well-mixed 64-bit generator.  rng(k) returns an integer in [1, k].
local function make_rng(seed, stream)
  local s = 0ULL + (seed % 2 ^ 52)
  if stream then s = s + 0x2545F4914F6CDD1DULL * (0ULL + (stream % 2 ^ 52)) end
  return function(k)
    s = s + 0x9E3779B97F4A7C15ULL
    local z = s
    z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
    z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
    z = bit.bxor(z, bit.rshift(z, 31))
    return tonumber(z % k) + 1
  end
end
data.rng = make_rng

-- A seed from hub's generator (reproducible under hub.manual_seed).
local function drawn_seed()
  return hub().randint(0, 2 ^ 31, { 1 }):item()
end

-- A random permutation of 0 .. n-1 as a Lua array.
function data.permutation(n, seed, stream)
  if seed == nil then seed = drawn_seed() end
  if type(seed) ~= "number" then error("permutation: seed must be a number, got " .. type(seed), 2) end
  local p = {}
  for i = 1, n do p[i] = i - 1 end
  local rng = make_rng(seed, stream)
  for i = n, 2, -1 do
    local j = rng(i)
    p[i], p[j] = p[j], p[i]
  end
  return p
end

local function index_tensor(list, from, to)
  local t = {}
  for i = from, to do t[#t + 1] = list[i] end
  return hub().tensor(t, "i64")
end

---------------------------------------------------------------------------------------------------
-- TensorDataset

local Dataset = {}
Dataset.__index = Dataset
data.Dataset = Dataset

-- TensorDataset{ x = tensor, y = tensor }: y may be left out; any other named tensors are kept
-- too and batched alongside (in the order x, y, then the others sorted by name).
function data.TensorDataset(t)
  if type(t) ~= "table" then core.argerror(1, "TensorDataset", "a table { x = tensor, y = tensor }", type(t)) end
  local names = {}
  for k, v in pairs(t) do
    if type(k) ~= "string" then error("TensorDataset: fields must be named (x = ..., y = ...)", 2) end
    if not is_tensor(v) then error("TensorDataset: field '" .. k .. "' is " .. type(v) .. ", expected a tensor", 2) end
    if Dataset[k] ~= nil or k == "names" or k == "n" or k == "classes" or k == "source" then
      error("TensorDataset: field name '" .. k .. "' is reserved", 2)
    end
    if k ~= "x" and k ~= "y" then names[#names + 1] = k end
  end
  if t.x == nil then error("TensorDataset: field 'x' is required", 2) end
  table.sort(names)
  if t.y ~= nil then table.insert(names, 1, "y") end
  table.insert(names, 1, "x")
  local n
  for _, k in ipairs(names) do
    local v = t[k]
    if v:dim() == 0 then error("TensorDataset: field '" .. k .. "' is 0-d; the first dimension indexes examples", 2) end
    if n == nil then n = v.shape[1]
    elseif v.shape[1] ~= n then
      error(string.format("TensorDataset: field '%s' has %d examples but 'x' has %d", k, v.shape[1], n), 2)
    end
  end
  local ds = setmetatable({ names = names, n = n }, Dataset)
  for _, k in ipairs(names) do ds[k] = t[k] end
  return ds
end

function Dataset:size() return self.n end
function Dataset:__tostring()
  local parts = {}
  for _, k in ipairs(self.names) do
    parts[#parts + 1] = string.format("%s=[%s] %s", k, table.concat(self[k].shape, ","), self[k].dtype)
  end
  return string.format("TensorDataset(%d examples: %s)", self.n, table.concat(parts, ", "))
end

-- The examples at 0-based positions idx (a Lua array or an i64 tensor), as a new data set.
function Dataset:subset(idx)
  if not is_tensor(idx) then
    if type(idx) ~= "table" then core.argerror(1, "subset", "a list of positions or an i64 tensor", type(idx)) end
    idx = index_tensor(idx, 1, #idx)
  end
  local t = {}
  for _, k in ipairs(self.names) do t[k] = self[k]:index_select(1, idx) end
  return data.TensorDataset(t)
end

-- split(frac, {seed=, shuffle=true}): two data sets, the first with round(frac * n) examples.
-- The split is a shuffled one (the same for the same seed) unless shuffle = false.
function Dataset:split(frac, opts)
  opts = core.check_options(opts, { seed = "number", shuffle = "boolean" }, "split", 2)
  if type(frac) ~= "number" or frac < 0 or frac > 1 then
    error("split: fraction must be a number in [0, 1], got " .. tostring(frac), 2)
  end
  local n = self.n
  local k = math.floor(frac * n + 0.5)
  local order
  if opts.shuffle == false then
    order = {}
    for i = 1, n do order[i] = i - 1 end
  else
    order = data.permutation(n, opts.seed)
  end
  local a, b = {}, {}
  for i = 1, n do if i <= k then a[#a + 1] = order[i] else b[#b + 1] = order[i] end end
  return self:subset(a), self:subset(b)
end

-- batches(batch_size, {shuffle=true, seed=, epoch=, drop_last=false}): an iterator over batches,
-- yielding one tensor per field (x, y, ...) and, last, the batch number (1-based).  Every example
-- appears exactly once per pass (the last batch is smaller unless drop_last).
function Dataset:batches(batch_size, opts)
  opts = core.check_options(opts, { shuffle = "boolean", seed = "number", epoch = "number", drop_last = "boolean" },
    "batches", 2)
  if type(batch_size) ~= "number" or batch_size < 1 or batch_size ~= math.floor(batch_size) then
    error("batches: batch size must be a positive integer, got " .. tostring(batch_size), 2)
  end
  local n = self.n
  local order
  if opts.shuffle == false then
    order = {}
    for i = 1, n do order[i] = i - 1 end
  else
    order = data.permutation(n, opts.seed, opts.epoch)
  end
  local last = opts.drop_last and (n - n % batch_size) or n
  local pos, count, names = 1, 0, self.names
  local perm = last > 0 and index_tensor(order, 1, last) or nil
  return function()
    if pos > last then return nil end
    local to = math.min(pos + batch_size - 1, last)
    local idx = perm:narrow(1, pos, to - pos + 1)
    pos = to + 1
    count = count + 1
    local out = {}
    for i, k in ipairs(names) do out[i] = self[k]:index_select(1, idx) end
    out[#names + 1] = count
    return unpack(out, 1, #names + 1)
  end
end

-- The number of batches one pass yields.
function Dataset:num_batches(batch_size, drop_last)
  if drop_last then return math.floor(self.n / batch_size) end
  return math.ceil(self.n / batch_size)
end

---------------------------------------------------------------------------------------------------
-- CSV

-- csv(path, {header=false, sep=","}): the rows of a numeric CSV file as a Lua array of arrays of
-- numbers (and, with header = true, the list of column names as a second result).  Empty lines
-- are skipped.  A field that is not a number, or a row with another number of fields than the
-- first, is an error naming the file and the line.
function data.csv(path, opts)
  opts = core.check_options(opts, { sep = "string", header = "boolean" }, "csv", 2)
  if type(path) ~= "string" then core.argerror(1, "csv", "a file name", type(path)) end
  local sep = opts.sep or ","
  local f, err = io.open(path, "rb")
  if not f then error("csv: cannot open " .. tostring(err), 2) end
  local rows, header, width = {}, nil, nil
  local lineno = 0
  local function fields(line)
    local out, start = {}, 1
    while true do
      local i = line:find(sep, start, true)
      out[#out + 1] = line:sub(start, (i or 0) - 1)
      if not i then break end
      start = i + #sep
    end
    return out
  end
  for line in f:lines() do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    if line:find("%S") then
      local fs = fields(line)
      if opts.header and header == nil then
        header = fs
      else
        if width == nil then width = #fs
        elseif #fs ~= width then
          f:close()
          error(string.format("csv: %s:%d: %d fields, expected %d", path, lineno, #fs, width), 2)
        end
        local row = {}
        for i, s in ipairs(fs) do
          local v = tonumber(s)
          if v == nil then
            f:close()
            error(string.format("csv: %s:%d: field %d (%q) is not a number", path, lineno, i, s), 2)
          end
          row[i] = v
        end
        rows[#rows + 1] = row
      end
    end
  end
  f:close()
  return rows, header
end

-- hub.data.text (tokenized text features, bucketed batches) loads on first use.
setmetatable(data, { __index = function(t, k)
  if k == "text" then local m = require "hub.data.text"; rawset(t, k, m); return m end
end })

return data
