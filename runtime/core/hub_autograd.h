/* hub_autograd.h - reverse-mode automatic differentiation.
 *
 * Every differentiable op whose inputs require gradients records a node: its backward function,
 * edges to the nodes (or leaf tensors) that made its inputs, and the tensors it saved.  The
 * result's grad_fn points at the node.  hub_backward(loss) orders the reachable nodes by creation
 * (newest first, a valid topological order), runs each backward once, accumulates gradients into
 * the `.grad` of leaves that require them, and frees the saved tensors (the graph can be
 * traversed once).  With grad mode off (hub_set_grad_enabled(0), Lua's hub.no_grad) ops record
 * nothing.  Gradients accumulate across calls until hub_tensor_zero_grad.
 */
#ifndef HUB_AUTOGRAD_H
#define HUB_AUTOGRAD_H

#include "hub_tensor.h"

/* Marks a leaf tensor as collecting gradients (floating dtypes only). */
HUB_API int hub_tensor_set_requires_grad(hub_tensor *t, int on);
/* Runs backpropagation from `root`.  `grad` is the gradient of root (NULL means ones; then root
 * must have one element). */
HUB_API int hub_backward(hub_tensor *root, hub_tensor *grad);
/* New reference to t->grad, or NULL (without an error) when there is none. */
HUB_API hub_tensor *hub_tensor_grad(hub_tensor *t);
/* Drops t->grad. */
HUB_API void hub_tensor_zero_grad(hub_tensor *t);
/* A tensor sharing t's data, cut from the graph (no grad_fn, requires_grad 0). */
HUB_API hub_tensor *hub_detach(hub_tensor *t);
/* Grad mode is per thread; the setter returns the previous value. */
HUB_API int hub_grad_enabled(void);
HUB_API int hub_set_grad_enabled(int on);
/* Autocast (mixed precision), per thread like grad mode: with HUB_BF16 or HUB_F16, matmul, linear
 * and linear_act on f32 operands round the operands to that dtype and multiply them with f32
 * accumulation into an f32 result (bias and activation in f32); every other op stays f32.  A
 * product's backward computes its gradients the same way, whatever the mode is when backward runs.
 * HUB_F32 turns it off (the default).  The setter returns the previous mode, or -1 with an error
 * for another dtype.  Where the backend has no such product (oneDNN without bf16 on an old CPU, f16
 * on most CPUs) the product is computed in f32 and one line on stderr says so. */
HUB_API int hub_autocast(void);
HUB_API int hub_set_autocast(int dtype);
/* Name of the op that made t ("matmul", …) or NULL for leaves. */
HUB_API const char *hub_tensor_grad_fn_name(const hub_tensor *t);
/* Number of autograd nodes alive (for leak tests). */
HUB_API int64_t hub_node_live_count(void);

#endif
