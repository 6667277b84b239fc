-- bench/autofinetune/table.lua RESULTS: the median [q1, q3] of each (function, program strategy).
local rows, order, fns, forder = {}, {}, {}, {}
for line in io.lines(arg[1]) do
  local prog, fn, s, _, v = line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
  if prog then
    local k = prog .. " " .. s
    if not fns[fn] then fns[fn] = {}; forder[#forder + 1] = fn end
    if not fns[fn][k] then fns[fn][k] = {}; table.insert(order, k) end
    table.insert(fns[fn][k], tonumber(v))
  end
end
local function q(t, p) -- linear interpolation, numpy's default
  table.sort(t)
  local h = (#t - 1) * p + 1
  local lo = math.floor(h)
  return t[lo] + (h - lo) * ((t[lo + 1] or t[lo]) - t[lo])
end
local seen, progs = {}, {}
for _, k in ipairs(order) do if not seen[k] then seen[k] = true; progs[#progs + 1] = k end end
io.write(string.format("%-16s", "strategy"))
for _, fn in ipairs(forder) do io.write(string.format(" | %-30s", fn .. " median [q1, q3]")) end
io.write("\n")
for _, k in ipairs(progs) do
  io.write(string.format("%-16s", k))
  for _, fn in ipairs(forder) do
    local t = fns[fn][k]
    if t then io.write(string.format(" | %-30s", string.format("%.4g [%.4g, %.4g]", q(t, 0.5), q(t, 0.25), q(t, 0.75))))
    else io.write(string.format(" | %-30s", "-")) end
  end
  io.write("\n")
end
