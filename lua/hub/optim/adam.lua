-- hub.optim.Adam and hub.optim.AdamW: Adam with L2 regularisation added to the gradient, and
-- Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.Adam/AdamW, each
-- parameter updated by one fused C pass (runtime/hub_optim.h).
local core = require "hub.core"
local C, check = core.C, core.check

return function(optim)
  local function update(decoupled)
    return function(p, g, st, group, lr)
      if not st.exp_avg then
        local hub = require "hub"
        st.exp_avg, st.exp_avg_sq, st.step = hub.zeros_like(p, "f32"), hub.zeros_like(p, "f32"), 0
      end
      st.step = st.step + 1
      local b = group.betas
      check(C.hub_adam_step(p, g, st.exp_avg, st.exp_avg_sq, lr, b[1], b[2], group.eps, group.weight_decay,
        decoupled, st.step), 3)
    end
  end
  return {
    Adam = optim.new_class("Adam", { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 }, update(0)),
    AdamW = optim.new_class("AdamW", { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2 }, update(1)),
  }
end
