-- hubrun run: runs a module on the command line, as PaddleHub's `hub run` does.
--
--   hubrun run lac --input_text "百度是一家高科技公司"      -> 百度/ORG 是/v 一家/m 高科技/n 公司/n
--   hubrun run lac --input_file texts.txt --batch_size 16   -> one line per non-empty input line
--   hubrun run lac --input_text "..." --json                 -> [{"word": [...], "tag": [...]}]
--   hubrun run ./my-module --input_text "..."                 -> a module directory works too
--   hubrun run all-minilm-l6-v2 --input_file s.txt --output vec.npy   -> the vectors in a file
--
-- NAME is an installed module (NAME==VERSION pins a version) or a module directory.  If the
-- module's module.lua defines run(state, argv), every argument after NAME goes to it and its
-- result is the exit status.  Otherwise this command reads the inputs, calls predict with
-- {batch_size = N}, and prints each result through the module's format (one line per input),
-- or all of them as one JSON array with --json.  --output FILE (encoder modules: module.lua defines
-- vectors(state, inputs, opts) -> [N, D] tensor) writes the vectors to FILE instead, in the format
-- its extension names (.npy, .safetensors, .jsonl; hub.vecfile) and prints one line on stderr.  --user_dict F calls the module's
-- set_user_dict(F) first (lac).  Errors print "hubrun run: MESSAGE" and exit with status 1.
local M = { summary = "run a module on text and print the results (lac: words and tags)" }

local usage = [[
usage: hubrun run NAME --input_text TEXT | --input_file FILE [options]

Runs a module on text and prints one result per input.

  NAME                 an installed module (NAME==VERSION for one version) or a module directory
  --input_text TEXT    one input
  --input_file FILE    one input per line (empty lines are skipped)
  --batch_size N       inputs per batch (default: the module's)
  --json               print the results as JSON, in PaddleHub's shape
  --output FILE        write the vectors to FILE instead of printing (encoder modules): .npy
                       (f32 [N, D]), .safetensors (tensor "embeddings") or .jsonl (one
                       {"index", "text", "embedding"} object per line), by FILE's extension
  --user_dict FILE     a user dictionary, for modules that take one (lac)
  --cuda_graphs        with --device cuda: a fine-tuned task or encoder module runs through CUDA graphs
  --device cpu|cuda    where the module runs (default cpu; --use_gpu = --device cuda; encoder,
                       fine-tuned and lac modules)
  -h, --help           print this text

A module whose module.lua defines run(state, argv) receives the arguments after NAME itself.]]

local function complain(msg)
  io.stdout:flush()
  io.stderr:write("hubrun run: ", msg, "\n")
  return 1
end

local value_opts = { input_text = true, input_file = true, batch_size = true, user_dict = true, output = true }

-- argv (after NAME) -> options table, or nil + message
local function parse(argv)
  local o, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    local key, val = a:match("^%-%-([%w_]+)=(.*)$")
    key = key or a:match("^%-%-([%w_]+)$")
    if key == "json" and not val then
      o.json = true
    elseif key and value_opts[key] then
      if not val then
        i = i + 1
        val = argv[i]
        if val == nil then return nil, "option --" .. key .. " needs a value" end
      end
      o[key] = val
    else
      return nil, "unknown argument '" .. a .. "'"
    end
    i = i + 1
  end
  if o.input_text and o.input_file then return nil, "give either --input_text or --input_file, not both" end
  if not o.input_text and not o.input_file then return nil, "no input: give --input_text TEXT or --input_file FILE" end
  if o.batch_size then
    local n = tonumber(o.batch_size)
    if not n or n < 1 or n ~= math.floor(n) then
      return nil, "--batch_size must be a positive integer, got '" .. o.batch_size .. "'"
    end
    o.batch_size = n
  end
  if o.output then
    if o.json then return nil, "give either --json or --output, not both" end
    if not require("hub.vecfile").format_of(o.output) then
      return nil, "--output " .. o.output .. ": unknown format (the extension must be .npy, .safetensors or .jsonl)"
    end
  end
  return o
end

local function read_inputs(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read the input file: " .. tostring(err) end
  local data, rerr = f:read("*a") -- a directory opens, then fails here with "Is a directory"
  f:close()
  if not data then return nil, "cannot read the input file: " .. tostring(rerr or "read error") end
  local texts = {}
  for line in data:gmatch("[^\n]+") do
    line = line:gsub("\r$", "")
    if line:match("%S") then texts[#texts + 1] = line end
  end
  return texts
end

function M.main(args)
  local name = args[1]
  if name == nil or name == "-h" or name == "--help" then
    print(usage)
    return name ~= nil and 0 or 1
  end
  if name:sub(1, 1) == "-" then return complain("the module name comes first (got '" .. name .. "'); see hubrun run --help") end
  -- --device D / --use_gpu are the loader's (hub.module's device option), taken out before the
  -- module's own arguments
  local rest, device, graphs = {}, nil, nil
  local i = 2
  while i <= #args do
    local a = args[i]
    if a == "--device" then
      device = args[i + 1]
      if device == nil then return complain("option --device needs a value (cpu or cuda)") end
      i = i + 1
    elseif a:match("^%-%-device=") then device = a:match("^%-%-device=(.*)$")
    elseif a == "--use_gpu" then device = "cuda"
    elseif a == "--cuda_graphs" then graphs = true
    else rest[#rest + 1] = a end
    i = i + 1
  end
  if device and device ~= "cpu" and device ~= "cuda" then
    return complain("--device must be cpu or cuda, got '" .. device .. "'")
  end

  local okm, hubmod = pcall(require, "hub.module")
  if not okm then return complain(tostring(hubmod)) end
  if graphs and device ~= "cuda" then return complain("--cuda_graphs needs --device cuda (or --use_gpu)") end
  local ok, mod = pcall(hubmod.load, name, device and device ~= "cpu" and { device = device, cuda_graphs = graphs } or nil)
  if not ok then return complain(tostring(mod)) end

  if mod:has("run") then
    local okr, status = pcall(mod.run, mod, rest)
    if not okr then return complain(tostring(status)) end
    if status == nil or status == true then return 0 end
    if status == false then return 1 end
    return tonumber(status) or 0
  end

  for _, a in ipairs(rest) do
    if a == "-h" or a == "--help" then print(usage); return 0 end
  end
  local o, perr = parse(rest)
  if not o then return complain(perr .. "; see hubrun run --help") end
  local texts = { o.input_text }
  if o.input_file then
    local err
    texts, err = read_inputs(o.input_file)
    if not texts then return complain(o.input_file .. ": " .. err) end
  end

  local okp, out, note = pcall(function()
    if o.user_dict then
      if type(mod.set_user_dict) ~= "function" then
        error(string.format("module '%s' takes no user dictionary (it has no set_user_dict)", mod.name), 0)
      end
      mod:set_user_dict(o.user_dict)
    end
    if o.output then
      if not mod:has("vectors") then
        error(string.format("module '%s' gives no vectors (its module.lua defines no vectors function): "
          .. "--output works with encoder modules", mod.name), 0)
      end
      if #texts == 0 then error((o.input_file or "the input") .. " has no text: nothing to write", 0) end
      local v = mod:vectors(texts, { batch_size = o.batch_size })
      require("hub.vecfile").write(o.output, v, texts)
      return nil, string.format("wrote %d vectors of %d to %s", v.shape[1], v.shape[2], o.output)
    end
    local results = mod:predict(texts, { batch_size = o.batch_size })
    if type(results) ~= "table" then
      error(string.format("module '%s': predict returned %s, expected a list of results", mod.name, type(results)), 0)
    end
    if o.json then return mod:json(results) end
    local lines = {}
    for i = 1, #texts do lines[i] = tostring(mod:format(results[i])) end
    return table.concat(lines, "\n")
  end)
  if not okp then return complain(tostring(out)) end
  if out == nil then io.stderr:write("hubrun run: ", tostring(note), "\n"); return 0 end
  if #texts > 0 or o.json then io.stdout:write(out, "\n") end
  return 0
end

return M
