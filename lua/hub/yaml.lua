-- hub.yaml: YAML documents read with libyaml (Debian's libyaml-0-2) through the LuaJIT FFI.
--
--   local yaml = require "hub.yaml"
--   local doc = yaml.load(text, "hparam.yaml")      -- mappings -> tables, sequences -> arrays
--   local doc = yaml.load_file("hparam.yaml")
--   yaml.line(doc.param_list[2], "type")             -- 7: the line of that key's value
--   yaml.line(doc.param_list[2])                     -- the line where that mapping starts
--
-- libyaml does the parsing (its event API); this file only builds Lua values from the events.
-- Plain scalars are typed by YAML's core schema: null (~, null, empty), booleans (true/false,
-- and YAML 1.1's yes/no/on/off that PyYAML's safe_load also reads as booleans), integers
-- (decimal, 0x.., 0o..), floats (1.5, 5e-5, .inf, .nan); quoted and block scalars stay strings.
-- (PyYAML, YAML 1.1, reads `5e-5` without a dot as a string; hub.yaml reads it as the number a
-- param file means.)  Anchors and aliases work; tags other than the standard ones are ignored.
-- Errors name SOURCE:LINE and what libyaml says ("hparam.yaml:4: mapping values are not allowed
-- in this context"); a duplicate key in a mapping is an error too.  Only the first document of
-- a stream is read.  Null values are returned as yaml.null (a unique table) inside sequences
-- and dropped from mappings (a key with a null value reads as missing).
local ffi = require "ffi"

ffi.cdef [[
typedef struct hub_yaml_mark { size_t index; size_t line; size_t column; } hub_yaml_mark;
typedef struct hub_yaml_parser {
  int error;
  const char *problem;
  size_t problem_offset;
  int problem_value;
  hub_yaml_mark problem_mark;
  const char *context;
  hub_yaml_mark context_mark;
  char _rest[1024];          /* libyaml 0.2.5's yaml_parser_t is 480 bytes; room to spare */
} hub_yaml_parser;
typedef struct hub_yaml_event {
  int type;
  union {
    struct { int encoding; } stream_start;
    struct { void *version_directive; struct { void *start; void *end; } tag_directives; int implicit; } document_start;
    struct { int implicit; } document_end;
    struct { unsigned char *anchor; } alias;
    struct { unsigned char *anchor; unsigned char *tag; unsigned char *value; size_t length;
             int plain_implicit; int quoted_implicit; int style; } scalar;
    struct { unsigned char *anchor; unsigned char *tag; int implicit; int style; } sequence_start;
    struct { unsigned char *anchor; unsigned char *tag; int implicit; int style; } mapping_start;
  } data;
  hub_yaml_mark start_mark;
  hub_yaml_mark end_mark;
  char _pad[64];
} hub_yaml_event;
int yaml_parser_initialize(hub_yaml_parser *parser);
void yaml_parser_delete(hub_yaml_parser *parser);
void yaml_parser_set_input_string(hub_yaml_parser *parser, const unsigned char *input, size_t size);
int yaml_parser_parse(hub_yaml_parser *parser, hub_yaml_event *event);
void yaml_event_delete(hub_yaml_event *event);
const char *yaml_get_version_string(void);
]]

local M = {}

local lib
local function library()
  if lib then return lib end
  local errs = {}
  for _, name in ipairs { "yaml-0.so.2", "yaml-0", "yaml" } do
    local ok, l = pcall(ffi.load, name)
    if ok then lib = l; return lib end
    errs[#errs + 1] = tostring(l)
  end
  error("hub.yaml: libyaml is not installed (Debian: apt-get install libyaml-0-2; " .. errs[1] .. ")", 0)
end

function M.version() return ffi.string(library().yaml_get_version_string()) end

M.null = setmetatable({}, { __tostring = function() return "yaml.null" end })

-- Lines of values: lines[tbl] = { [key] = line, [0] = the line where tbl starts }.
local lines = setmetatable({}, { __mode = "k" })

-- line(tbl[, key]) -> the 1-based line of tbl[key]'s value, or of tbl itself; nil if unknown.
function M.line(tbl, key)
  local l = lines[tbl]
  if not l then return nil end
  if key == nil then return l[0] end
  return l[key]
end

local EV = { STREAM_START = 1, STREAM_END = 2, DOC_START = 3, DOC_END = 4, ALIAS = 5, SCALAR = 6,
             SEQ_START = 7, SEQ_END = 8, MAP_START = 9, MAP_END = 10 }
local PLAIN = 1

local function plain_value(s)
  if s == "" or s == "~" or s == "null" or s == "Null" or s == "NULL" then return M.null end
  local lower = s:lower()
  if lower == "true" or lower == "yes" or lower == "on" then return true end
  if lower == "false" or lower == "no" or lower == "off" then return false end
  if s:match("^[-+]?%d+$") then return tonumber(s) end
  if s:match("^[-+]?0x%x+$") then
    local neg = s:sub(1, 1) == "-"
    local v = tonumber((s:gsub("^[-+]", "")), 16)
    return neg and -v or v
  end
  if s:match("^0o[0-7]+$") then return tonumber(s:sub(3), 8) end
  if s:match("^[-+]?%d*%.?%d*[eE]?[-+]?%d*$") and s:match("%d") then
    local v = tonumber(s)
    if v then return v end
  end
  if lower:match("^[-+]?%.inf$") then return s:sub(1, 1) == "-" and -math.huge or math.huge end
  if lower == ".nan" then return 0 / 0 end
  return s
end

-- load(text[, source]) -> the first document as Lua values (nil for an empty stream).
function M.load(text, source)
  if type(text) ~= "string" then error("yaml.load: text must be a string, got " .. type(text), 2) end
  source = source or "<yaml>"
  local L = library()
  local parser = ffi.new("hub_yaml_parser")
  if L.yaml_parser_initialize(parser) == 0 then error("yaml.load: cannot initialise libyaml's parser (out of memory)", 0) end
  local buf = ffi.new("unsigned char[?]", #text + 1)
  ffi.copy(buf, text, #text)
  L.yaml_parser_set_input_string(parser, buf, #text)
  local event = ffi.new("hub_yaml_event")
  local anchors = {}
  local root, have_root = nil, false
  -- the stack of open containers: { value = tbl, kind = "map"|"seq", key = pending key, anchor = }
  local stack = {}
  local err

  local function fail(line, msg) err = string.format("%s:%d: %s", source, line, msg) end

  local function add(v, line)
    local top = stack[#stack]
    if not top then
      root, have_root = v, true
      return
    end
    if top.kind == "seq" then
      top.value[#top.value + 1] = v
      lines[top.value][#top.value] = line
    elseif top.key == nil then
      if type(v) == "table" then return fail(line, "a mapping or sequence as a key is not supported") end
      if v == M.null then v = "null" end
      if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then v = tostring(v) end
      top.key, top.key_line = v, line
    else
      local k = top.key
      if top.seen[k] then
        return fail(line, string.format("duplicate key '%s' (first at line %d)", tostring(k), top.seen[k]))
      end
      top.seen[k] = top.key_line
      if v ~= M.null then top.value[k] = v end
      lines[top.value][k] = line
      top.key = nil
    end
  end

  local ok_all = true
  while true do
    if L.yaml_parser_parse(parser, event) == 0 then
      local mark = parser.problem_mark
      local msg = parser.problem ~= nil and ffi.string(parser.problem) or "parse error"
      if parser.context ~= nil then msg = msg .. " " .. ffi.string(parser.context) end
      err = string.format("%s:%d: %s", source, tonumber(mark.line) + 1, msg)
      ok_all = false
      break
    end
    local t = event.type
    local line = tonumber(event.start_mark.line) + 1
    if t == EV.SCALAR then
      local d = event.data.scalar
      local s = ffi.string(d.value, d.length)
      local tag = d.tag ~= nil and ffi.string(d.tag) or nil
      local v
      if tag == "tag:yaml.org,2002:str" then v = s
      elseif d.style == PLAIN or (tag and tag ~= "!") then v = plain_value(s)
      else v = s end
      if d.anchor ~= nil then anchors[ffi.string(d.anchor)] = v end
      add(v, line)
    elseif t == EV.SEQ_START or t == EV.MAP_START then
      local d = t == EV.SEQ_START and event.data.sequence_start or event.data.mapping_start
      local tbl = {}
      lines[tbl] = { [0] = line }
      if d.anchor ~= nil then anchors[ffi.string(d.anchor)] = tbl end
      add(tbl, line)
      stack[#stack + 1] = { value = tbl, kind = t == EV.SEQ_START and "seq" or "map", seen = {} }
    elseif t == EV.SEQ_END or t == EV.MAP_END then
      stack[#stack] = nil
    elseif t == EV.ALIAS then
      local name = ffi.string(event.data.alias.anchor)
      local v = anchors[name]
      if v == nil then fail(line, "unknown alias *" .. name) else add(v, line) end
    elseif t == EV.DOC_END then
      L.yaml_event_delete(event)
      break
    elseif t == EV.STREAM_END then
      L.yaml_event_delete(event)
      break
    end
    L.yaml_event_delete(event)
    if err then break end
  end
  L.yaml_parser_delete(parser)
  if err then error(err, 0) end
  if not ok_all then error(source .. ": parse error", 0) end
  if root == M.null then return nil end
  return root
end

function M.load_file(path)
  local f, e = io.open(path, "rb")
  if not f then error("yaml: cannot open " .. tostring(e), 0) end
  local text = f:read("*a")
  f:close()
  return M.load(text, path)
end

return M
