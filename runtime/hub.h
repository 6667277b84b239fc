/* hub.h - the public C API of libhub, the hubrun runtime.
 *
 * libhub is a small tensor library with reverse-mode autograd and oneDNN kernels, made to be
 * driven from LuaJIT (lua/hub) and embedded in other programs.  A worked example:
 *
 *   #include "hub.h"
 *   hub_manual_seed(42);
 *   hub_tensor *w = hub_randn(2, (int64_t[]){3, 4}, HUB_F32);
 *   hub_tensor_set_requires_grad(w, 1);
 *   hub_tensor *x = hub_full(2, (int64_t[]){2, 3}, 1.0, HUB_F32);
 *   hub_tensor *y = hub_matmul(x, w);               // [2,4]
 *   hub_tensor *loss = hub_sum(y, 0, NULL, 0);      // scalar
 *   if (!loss) fprintf(stderr, "%s\n", hub_last_error());
 *   hub_backward(loss, NULL);                       // w->grad is now filled
 *   hub_tensor_release(loss); hub_tensor_release(y); ...
 *
 * The contracts shared by every function (new references, status codes, hub_last_error) are at
 * the top of hub_base.h.  The parts:
 *   hub_base.h      dtypes, devices, errors, memory statistics, RNG, threads
 *   hub_tensor.h    tensors, views, copies, constructors
 *   hub_autograd.h  backward, grad mode, gradients
 *   hub_ops.h       differentiable operations
 *   hub_optim.h     fused optimiser updates
 *   hub_io.h        safetensors files: mmap reading, atomic writing
 *   hub_text.h      BERT WordPiece tokenizer: pairs, truncation, padding, offsets, decoding
 *   hub_paddle.h    PaddlePaddle parameter files, Paddle's GRU and CRF decoding
 *   hub_fetch.h     downloads through libcurl: resume, retries, timeouts, progress
 *   hub_util.h      SHA-256, file locks, directories (for the module store)
 *   hub_image.h     RGB images: lines, rectangles, bitmap text, PNG files (for plots)
 *   hub_runtime.h   embedding: Lua runtimes, modules called with JSON, shared weights
 */
#ifndef HUB_H
#define HUB_H

#include "hub_base.h"
#include "hub_tensor.h"
#include "hub_autograd.h"
#include "hub_ops.h"
#include "hub_optim.h"
#include "hub_cuda.h"
#include "hub_io.h"
#include "hub_text.h"
#include "hub_paddle.h"
#include "hub_fetch.h"
#include "hub_util.h"
#include "hub_image.h"
#include "hub_runtime.h"
#include "hub_serve.h"

#endif
