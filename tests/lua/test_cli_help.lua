-- test_cli_help.lua - every command (lua/hub/cli/*.lua) has a summary in `hubrun help`, answers
-- `--help` and `hubrun help VERB` with its usage and status 0, and has its section in
-- docs/cli.md ("## hubrun VERB") and a row in the table of commands there.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok, q = T.ok, T.q

local here = arg[0]:match("^(.*)/tests/lua/[^/]*$") or (arg[0]:match("^(.*)/lua/[^/]*$") and "..") or ".."
local HUBRUN = arg[-1] -- the hubrun running this test
local home = os.tmpname()
os.remove(home)

local function hubrun(args)
  local cmd = string.format("HUB_HOME=%s %s %s 2>&1; echo \"rc=$?\"", q(home), q(HUBRUN), args)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  return out:gsub("rc=%d+\n$", ""), rc
end

local verbs = {}
local p = io.popen("ls " .. q(here .. "/lua/hub/cli"))
for f in p:lines() do
  local v = f:match("^([%w_-]+)%.lua$")
  if v then verbs[#verbs + 1] = v end
end
p:close()
ok(#verbs >= 12, "found the commands: " .. table.concat(verbs, " "))

local list = hubrun("help")
local doc = T.read_file(here .. "/docs/cli.md") or ""
for _, v in ipairs(verbs) do
  local summary = list:match("\n  " .. v:gsub("%-", "%%-") .. " +([^\n]*)")
  ok(summary and #summary > 10, "hubrun help gives '" .. v .. "' a summary: " .. tostring(summary))
  local out, rc = hubrun(v .. " --help")
  ok(rc == 0 and out:find("usage: hubrun " .. v, 1, true), v .. " --help: rc " .. tostring(rc) .. " " .. out)
  out, rc = hubrun("help " .. v)
  ok(rc == 0 and out:find("usage: hubrun " .. v, 1, true), "help " .. v .. ": rc " .. tostring(rc) .. " " .. out)
  ok(doc:find("\n## hubrun " .. v .. "\n", 1, true), "docs/cli.md has a section for " .. v)
  ok(doc:find("| [`" .. v .. "`](#hubrun-" .. v .. ") |", 1, true), "docs/cli.md's table lists " .. v)
end

os.execute("rm -rf " .. q(home))
T.finish()
