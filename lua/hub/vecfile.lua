-- hub.vecfile: writes a matrix of vectors (sentence embeddings, one row per input) to a file
-- whose extension says the format; `hubrun run NAME --output FILE` uses it (docs/cli-run.md).
--
--   local vecfile = require "hub.vecfile"
--   vecfile.write("vec.npy", t)                  -- t: a 2-d tensor [N, D] (written as f32)
--   vecfile.write("vec.jsonl", t, texts)         -- texts: the N inputs (for .jsonl)
--
--   .npy          NumPy's format 1.0: '<f4', C order, shape (N, D)  (numpy.load reads it)
--   .safetensors  one f32 tensor "embeddings" [N, D]               (safetensors.numpy.load_file)
--   .jsonl        one line per row: {"index": i (0-based), "text": "...", "embedding": [D numbers]}
--                 (numbers with 9 significant digits: the f32 values exactly)
-- The file is written as FILE.tmp-PID and renamed into place.  An unknown extension is an error
-- naming the file and the known ones.
local ffi = require "ffi"
local hub = require "hub"
local C = hub.C

local M = {}

M.FORMATS = { "npy", "safetensors", "jsonl" }

local fail = require("hub.core").failf

-- The format of a path by its extension, or nil.
function M.format_of(path)
  local ext = tostring(path):match("%.([%w]+)$")
  ext = ext and ext:lower()
  for _, f in ipairs(M.FORMATS) do if f == ext then return f end end
  return nil
end

-- The f32 values of a 2-d tensor, row-major, and its shape.
local function f32_data(t)
  if t.dtype ~= "f32" then t = t:to("f32") end
  local n = t:numel()
  local buf = ffi.new("float[?]", n > 0 and n or 1)
  if C.hub_tensor_read(t, buf, 0) ~= 0 then fail("vecfile: %s", ffi.string(C.hub_last_error())) end
  return buf, n
end

-- The bytes of a .npy file holding a [N, D] f32 matrix.
function M.npy_bytes(t)
  if not ffi.abi("le") then fail("vecfile: .npy output is written little-endian only") end
  local shape = t.shape
  local buf, n = f32_data(t)
  local dims = #shape == 1 and string.format("(%d,)", shape[1]) or "(" .. table.concat(shape, ", ") .. ")"
  local header = string.format("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", dims)
  local total = 10 + #header + 1                         -- magic, version, length, header, '\n'
  header = header .. string.rep(" ", (64 - total % 64) % 64) .. "\n"
  local len = #header
  return "\147NUMPY\1\0" .. string.char(len % 256, math.floor(len / 256)) .. header .. ffi.string(buf, n * 4)
end

local function jsonl_text(t, texts)
  local json = require("hub.cli_util").json
  local buf, _ = f32_data(t)
  local N, D = t.shape[1], t.shape[2]
  local lines, nums = {}, {}
  for i = 0, N - 1 do
    for j = 0, D - 1 do
      local v = buf[i * D + j]
      nums[j + 1] = (v ~= v or v == math.huge or v == -math.huge) and "null" or string.format("%.9g", v)
    end
    local text = texts and texts[i + 1]
    lines[#lines + 1] = string.format('{"index": %d, %s"embedding": [%s]}', i,
      type(text) == "string" and ('"text": ' .. json(text) .. ", ") or "", table.concat(nums, ", ", 1, D))
  end
  return table.concat(lines, "\n") .. (N > 0 and "\n" or "")
end

-- Writes t ([N, D]) to path in the format its extension names; texts (optional, N strings)
-- go into .jsonl lines.  Returns the format.
function M.write(path, t, texts)
  if type(path) ~= "string" or path == "" then fail("vecfile.write: expected a file path") end
  if not require("hub.core").is_tensor(t) or t:dim() ~= 2 then fail("vecfile.write: expected a 2-d tensor [N, D] of vectors") end
  local fmt = M.format_of(path)
  if not fmt then
    fail("%s: unknown output format (the extension must be .npy, .safetensors or .jsonl)", path)
  end
  local tmp = path .. ".tmp-" .. C.hub_os_pid()
  local ok, err = pcall(function()
    if fmt == "safetensors" then
      hub.save(tmp, { embeddings = t.dtype == "f32" and t or t:to("f32") }, { metadata = { format = "hubrun-vectors" } })
    else
      local data = fmt == "npy" and M.npy_bytes(t) or jsonl_text(t, texts)
      local f, e = io.open(tmp, "wb")
      if not f then error(string.format("cannot write %s: %s", path, tostring(e)), 0) end
      local okw, ew = f:write(data)
      f:close()
      if not okw then error(string.format("cannot write %s: %s", path, tostring(ew)), 0) end
    end
  end)
  if not ok then os.remove(tmp); fail("%s", tostring(err)) end
  local okr, e = os.rename(tmp, path)
  if not okr then os.remove(tmp); fail("cannot write %s: %s", path, tostring(e)) end
  return fmt
end

return M
