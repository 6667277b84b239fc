/* hub_optim.h - fused parameter updates for the optimisers of lua/hub/optim.lua.
 *
 * Each call updates one parameter tensor (or, the _multi forms, a list of them) in place from its gradient and its state tensors, in a
 * single pass over memory (PyTorch's "foreach/fused" idea): reading p, g, m and v once instead of
 * once per elementwise op.  Nothing is recorded by autograd.  All tensors are f32, contiguous, of
 * the same shape and on the same device.
 */
#ifndef HUB_OPTIM_H
#define HUB_OPTIM_H

#include "hub_tensor.h"

/* SGD as torch.optim.SGD: d = g + wd*p; with momentum: buf = first ? d : mu*buf + (1-dampening)*d,
 * d = nesterov ? d + mu*buf : buf; p -= lr*d.  buf may be NULL when momentum is 0. */
HUB_API int hub_sgd_step(hub_tensor *p, hub_tensor *g, hub_tensor *buf, double lr, double momentum,
                 double dampening, double weight_decay, int nesterov, int first);
/* Adam (decoupled = 0: L2 added to the gradient) and AdamW (decoupled = 1: p *= 1 - lr*wd), as
 * torch.optim.Adam/AdamW; step counts from 1 (bias correction). */
HUB_API int hub_adam_step(hub_tensor *p, hub_tensor *g, hub_tensor *m, hub_tensor *v, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int decoupled,
                  int64_t step);
/* The same update for n parameters at once (an optimiser's whole group: one pass each on the
 * CPU, one kernel launch for all of them on a GPU); steps[i] is parameter i's step count.  Every
 * tensor is checked before anything is updated; all on one device. */
HUB_API int hub_adam_step_multi(int n, hub_tensor **p, hub_tensor **g, hub_tensor **m, hub_tensor **v,
                                const int64_t *steps, double lr, double beta1, double beta2, double eps,
                                double weight_decay, int decoupled);
/* Sum of squares of all elements (double accumulation), for clip_grad_norm. -1 on error. */
HUB_API double hub_sum_squares(hub_tensor *t);
/* The sums of squares of n tensors (any float dtype, one device) into out[0..n-1]; on a GPU one
 * read back for all of them.  0 or -1. */
HUB_API int hub_sum_squares_multi(int n, hub_tensor **ts, double *out);
/* t *= s in place (not recorded); the multi form scales n f32 contiguous tensors of one device. */
HUB_API int hub_scale_(hub_tensor *t, double s);
HUB_API int hub_scale_multi_(int n, hub_tensor **ts, double s);

#endif
