-- hub.optim.Adam and hub.optim.AdamW: Adam with L2 regularisation added to the gradient, and
-- Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.Adam/AdamW, each
-- parameter group updated by one fused C call (hub_adam_step_multi, runtime/hub_optim.h).
local core = require "hub.core"
local C, check = core.C, core.check

return function(optim)
  -- a group at once: hub_adam_step_multi per device (one pass each on the CPU, one launch on a GPU)
  local ffi = require "ffi"
  local function update_group(decoupled)
    return function(items, group, lr)
      local hub = require "hub"
      local by_dev, order = {}, {}
      for _, it in ipairs(items) do
        local p, st = it[1], it[3]
        if not st.exp_avg then
          st.exp_avg, st.exp_avg_sq, st.step = hub.zeros_like(p, "f32"), hub.zeros_like(p, "f32"), 0
        end
        local d = p.device
        if not by_dev[d] then by_dev[d] = {}; order[#order + 1] = d end
        local l = by_dev[d]
        l[#l + 1] = it
      end
      local b = group.betas
      for _, d in ipairs(order) do
        local l = by_dev[d]
        local n = #l
        local P, G = ffi.new("hub_tensor *[?]", n), ffi.new("hub_tensor *[?]", n)
        local M, V, S = ffi.new("hub_tensor *[?]", n), ffi.new("hub_tensor *[?]", n), ffi.new("int64_t[?]", n)
        for i, it in ipairs(l) do
          local st = it[3]
          P[i - 1], G[i - 1], M[i - 1], V[i - 1], S[i - 1] = it[1], it[2], st.exp_avg, st.exp_avg_sq, st.step + 1
        end
        check(C.hub_adam_step_multi(n, P, G, M, V, S, lr, b[1], b[2], group.eps, group.weight_decay, decoupled), 3)
        for _, it in ipairs(l) do it[3].step = it[3].step + 1 end -- counted once the update is done
      end
    end
  end
  return {
    Adam = optim.new_class("Adam", { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 }, nil, update_group(0)),
    AdamW = optim.new_class("AdamW", { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2 }, nil, update_group(1)),
  }
end
