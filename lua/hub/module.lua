-- hub.module: loading modules (installed names or directories) and calling them.
--
--   local lac = hub.module "lac"                          -- the newest installed version
--   local lac = hub.module("lac", {version = "1.0.0"})    -- or "lac==1.0.0", "lac>=1.0"
--   local m = hub.module "./build/registry/lac/1.0.0"     -- a module directory (a path with '/')
--   local r = lac:predict({"今天是个好日子"})              -- {{word = {...}, tag = {...}}}
--   print(lac:format(r[1]))                               -- 今天/TIME 是/v 个/q 好日子/n
--   print(lac:predict_json('{"text": ["今天是个好日子"]}')) -- PaddleHub serving's request shape
--
-- A module is a directory (docs/module-format.md): module.json (name, version, type, entry, files,
-- ...) and the entry file, module.lua, which returns a table of functions:
--
--   load(dir, opts) -> state       required; opts are hub.module's options (version removed)
--   predict(state, inputs, opts)   the results for a list of inputs
--   run(state, argv) -> status     optional: `hubrun run NAME ...` hands it the arguments
--   serving(state, request)        optional: decoded JSON request -> results (or a JSON string)
--   context(state, opts)           optional: the network and tokenizer, for fine-tuning
--   format(state, result) -> text  optional: one result as a line for `hubrun run`
--   json(state, results) -> text   optional: results as JSON (key order, say), else lua-cjson
--   vectors(state, inputs, opts)   optional (encoders): the inputs' vectors as one tensor [N, D];
--                                  `hubrun run NAME --output FILE` writes them
--
-- The object returned has .name, .version, .manifest, .dir and the methods :predict, :run,
-- :serving, :context, :vectors, :format, :json and :predict_json; any other method is looked up in the
-- state, so lac:set_user_dict(path) reaches the state's own set_user_dict.  Errors name the
-- module and what is missing.  Names resolve through hub.store (the store under $HUB_HOME).
local M = {}

local Module = {}

-- ---- errors and small helpers ----

local fail = require("hub.core").failf

local cjson_lib
local function cjson()
  if not cjson_lib then
    local ok, c = pcall(require, "cjson")
    if not ok then fail("hub.module: lua-cjson is not available (Debian package lua-cjson): %s", tostring(c)) end
    cjson_lib = c
  end
  return cjson_lib
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A missing module is told apart from a module that fails while loading.
local function optional_require(name)
  local ok, m = pcall(require, name)
  if ok then return m end
  if tostring(m):find("module '" .. name .. "' not found", 1, true) then return nil end
  error(m, 0)
end

-- ---- finding a module ----

-- module.json of a directory, through the store when it is there (same checks everywhere).
function M.read_manifest(dir)
  local store = optional_require("hub.store")
  if store and store.read_manifest then
    local m, err = store.read_manifest(dir)
    if not m then fail("%s", tostring(err)) end
    return m
  end
  local f, err = io.open(dir .. "/module.json", "rb")
  if not f then fail("module directory %s has no module.json (%s)", dir, tostring(err)) end
  local text = f:read("*a")
  f:close()
  local ok, m = pcall(cjson().decode, text)
  if not ok or type(m) ~= "table" then fail("%s/module.json: invalid JSON: %s", dir, tostring(m)) end
  return m
end

local function is_path(spec)
  return spec:find("/", 1, true) ~= nil or spec == "." or spec == ".."
end

-- name_or_dir (+ version) -> dir, manifest
function M.resolve(spec, version)
  if type(spec) ~= "string" or spec == "" then
    error(string.format("bad argument #1 to 'module' (expected a module name or directory, got %s)",
      spec == "" and "an empty string" or type(spec)), 3)
  end
  if is_path(spec) then
    local dir = spec:gsub("(.)/+$", "%1")
    if not file_exists(dir .. "/module.json") then
      fail("module directory %s has no module.json (is it a module?)", dir)
    end
    return dir, M.read_manifest(dir)
  end
  local store = optional_require("hub.store")
  if not store then
    fail("module '%s': the module store (hub.store) is not available; pass a module directory", spec)
  end
  local name, constraint = store.parse_spec(spec) -- "lac", "lac==1.0.0", "lac>=1.0"
  if version ~= nil then
    if constraint then fail("module '%s': give the version in the name or in opts.version, not both", spec) end
    constraint = tostring(version)
  end
  local dir, manifest = store.resolve(name, constraint)
  if dir then return dir, manifest or M.read_manifest(dir) end
  -- a module directory in the current directory named like the module
  if not constraint and file_exists(spec .. "/module.json") then return spec, M.read_manifest(spec) end
  fail("%s", tostring(manifest or ("module '" .. spec .. "' is not installed")))
end

-- ---- loading ----

-- hub.module(name_or_dir[, opts]) -> module object
function M.load(spec, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("bad argument #2 to 'module' (expected an options table, got %s)", type(opts)), 2)
  end
  -- version is hub.module's own option; the others go to the module's load, which checks them
  if opts and opts.version ~= nil and type(opts.version) ~= "string" and type(opts.version) ~= "number" then
    fail("module: option 'version' must be a string such as \"1.0.0\" or \">=1.0\", got %s", type(opts.version))
  end
  local lopts = {}
  for k, v in pairs(opts or {}) do if k ~= "version" then lopts[k] = v end end
  local dir, manifest = M.resolve(spec, opts and opts.version)
  if type(manifest) ~= "table" then fail("%s/module.json: not a JSON object", dir) end
  local store = optional_require("hub.store")
  if store and store.check_compatible then store.check_compatible(manifest) end
  local name = type(manifest.name) == "string" and manifest.name or spec
  local entry = manifest.entry or "module.lua"
  if type(entry) ~= "string" then fail("module '%s' (%s): module.json's entry is not a file name", name, dir) end
  local path = dir .. "/" .. entry
  if not file_exists(path) then fail("module '%s' (%s): its entry file %s is missing", name, dir, entry) end
  local chunk, err = loadfile(path)
  if not chunk then fail("module '%s': cannot load %s: %s", name, entry, tostring(err)) end
  local ok, impl = pcall(chunk, dir, manifest)
  if not ok then fail("module '%s': %s failed: %s", name, entry, tostring(impl)) end
  if type(impl) ~= "table" then
    fail("module '%s': %s returned %s (expected a table of functions: load, predict, ...)", name, entry, type(impl))
  end
  for _, k in ipairs { "load", "predict", "run", "serving", "context", "vectors", "format", "json" } do
    if impl[k] ~= nil and type(impl[k]) ~= "function" then
      fail("module '%s': %s's '%s' is a %s, expected a function", name, entry, k, type(impl[k]))
    end
  end
  if not impl.load then fail("module '%s' (%s): %s defines no load function", name, dir, entry) end
  local okl, state = pcall(impl.load, dir, lopts)
  if not okl then fail("module '%s': load failed: %s", name, tostring(state)) end
  if state == nil then fail("module '%s': load returned nothing (expected the module's state)", name) end
  return setmetatable({ name = name, version = manifest.version, manifest = manifest, dir = dir,
                        impl = impl, state = state, entry = entry }, Module)
end

-- ---- the module object ----

Module.__index = function(self, k)
  local v = Module[k]
  if v ~= nil then return v end
  local st = rawget(self, "state")
  local ok, f = pcall(function() return st[k] end)
  if not ok then return nil end
  if type(f) == "function" then return function(_, ...) return f(st, ...) end end
  return f
end

Module.__tostring = function(self)
  return string.format("module %s %s (%s)", tostring(self.name), tostring(self.version), self.dir)
end

local function need(self, fname)
  local f = self.impl[fname]
  if not f then fail("module '%s' (%s/%s) defines no %s function", self.name, self.dir, self.entry, fname) end
  return f
end

-- true when module.lua defines `fname`
function Module:has(fname) return self.impl[fname] ~= nil end

function Module:predict(inputs, opts) return need(self, "predict")(self.state, inputs, opts) end
function Module:run(argv) return need(self, "run")(self.state, argv) end
function Module:context(opts) return need(self, "context")(self.state, opts) end
function Module:vectors(inputs, opts) return need(self, "vectors")(self.state, inputs, opts) end

local input_keys = { text = true, texts = true, data = true }

-- The default serving adapter: PaddleHub's {"text": [...]} ("texts" and "data" also work, and
-- so does a bare list); the other keys ("batch_size", ...) become predict's options.
local function default_serving(self, req)
  if type(req) ~= "table" then
    fail("module '%s': the request is a JSON %s; expected an object such as {\"text\": [\"...\"]}",
      self.name, req == cjson().null and "null" or type(req))
  end
  local inputs = req[1] ~= nil and req or req.text or req.texts or req.data
  if inputs == nil then
    fail("module '%s': the request has no \"text\" list (expected {\"text\": [\"...\"]})", self.name)
  end
  if type(inputs) == "string" then inputs = { inputs } end
  if type(inputs) ~= "table" then fail("module '%s': \"text\" must be a list of strings", self.name) end
  for i, v in ipairs(inputs) do
    if type(v) ~= "string" then
      fail("module '%s': \"text\" item %d is %s, expected a string", self.name, i,
        v == cjson().null and "null" or "a " .. type(v))
    end
  end
  local opts = {}
  if inputs ~= req then
    for k, v in pairs(req) do
      if type(k) == "string" and not input_keys[k] and v ~= cjson().null then opts[k] = v end
    end
  end
  return self:predict(inputs, opts)
end

-- request (a decoded JSON value) -> results; module.lua's serving when it has one.
function Module:serving(req)
  if self.impl.serving then return self.impl.serving(self.state, req) end
  return default_serving(self, req)
end

-- One result as text: module.lua's format, else the result itself when it is a string, else
-- its JSON.
function Module:format(result)
  if self.impl.format then return self.impl.format(self.state, result) end
  if type(result) == "string" then return result end
  return self:json(result)
end

-- Results as a JSON string: module.lua's json (when it gives one), else lua-cjson.
function Module:json(results)
  if self.impl.json then
    local s = self.impl.json(self.state, results)
    if s ~= nil then return s end
  end
  local ok, s = pcall(cjson().encode, results)
  if not ok then fail("module '%s': cannot encode the results as JSON: %s", self.name, tostring(s)) end
  return s
end

-- JSON request string -> JSON answer string (what hub_module_predict_json returns).
function Module:predict_json(text)
  if type(text) ~= "string" then
    error(string.format("bad argument #1 to 'predict_json' (expected a JSON string, got %s)", type(text)), 2)
  end
  local ok, req = pcall(cjson().decode, text)
  if not ok then fail("module '%s': invalid JSON request: %s", self.name, tostring(req)) end
  local res = self:serving(req)
  if type(res) == "string" and self.impl.serving then return res end
  return self:json(res)
end

function M.predict_json(mod, text)
  if getmetatable(mod) ~= Module then
    error("bad argument #1 to 'predict_json' (expected a module object)", 2)
  end
  return mod:predict_json(text)
end

M.Module = Module

return setmetatable(M, { __call = function(_, spec, opts) return M.load(spec, opts) end })
