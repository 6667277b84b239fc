-- test_cuda.lua: hub.cuda and t:cuda() / t:cpu() from Lua.  Without a GPU: is_available() is
-- false, device_count() 0, and moving a tensor fails with "no CUDA device".  With one: a round
-- trip keeps the values, ops run on the device, mixed devices are an error, memory stats move.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local cuda = require "hub.cuda"

ok(type(cuda.is_built()) == "boolean", "is_built is a boolean")
if not cuda.is_available() then
  ok(cuda.device_count() == 0, "no devices")
  ok(cuda.unavailable_reason():find("no CUDA device", 1, true) ~= nil, "the reason names it", cuda.unavailable_reason())
  T.errors(function() return hub.ones(2):cuda() end, "no CUDA device", "t:cuda() without a GPU")
  T.errors(function() return hub.ones(2):to("cuda") end, "no CUDA device", "t:to('cuda') without a GPU")
  ok(cuda.memory_stats().live_bytes == 0, "memory stats are zero")
  print("skipped: no GPU")
  T.finish()
  return
end
ok(cuda.device_count() >= 1 and #cuda.device_name(1) > 0, "a named device", cuda.device_name(1))
local x = hub.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
local d = x:cuda()
ok(d.device == "cuda", "t:cuda() is on cuda")
local back = (d * 2 + 1):cpu()
ok(back.device == "cpu" and back[2][3]:item() == 13, "ops on cuda and back", tostring(back))
T.errors(function() return d + x end, "different devices", "mixing devices")
ok(cuda.memory_stats().live_bytes > 0, "the device allocator counts live bytes")
cuda.synchronize()
T.finish()
