-- hub.optim.SGD: stochastic gradient descent with momentum, dampening, Nesterov and L2 weight
-- decay, as torch.optim.SGD (one fused C pass per parameter).
local core = require "hub.core"
local C, check = core.C, core.check

return function(optim)
  return optim.new_class("SGD", { lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false },
    function(p, g, st, group, lr)
      local buf, first = nil, 0
      if group.momentum ~= 0 then
        if not st.momentum_buffer then
          st.momentum_buffer = require("hub").zeros_like(p, "f32")
          first = 1
        end
        buf = st.momentum_buffer
      end
      check(C.hub_sgd_step(p, g, buf, lr, group.momentum, group.dampening, group.weight_decay,
        group.nesterov and 1 or 0, first), 3)
    end)
end
