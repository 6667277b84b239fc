/* hub_paddle.h - PaddlePaddle's pieces: LoDTensor parameter files, and the two inference ops
 * with Paddle's own conventions that its sequence models need (dynamic_gru, crf_decoding).
 *
 * A parameter file (what fluid.io.save_persistables writes, one file per tensor) is
 *
 *   u32        version of the LoDTensor, 0
 *   u64        lod_level, the number of LoD levels (0 for parameters), then for each level
 *              u64 n and n bytes of offsets (skipped: parameters carry no LoD)
 *   u32        version of the tensor, 0
 *   i32        desc_len, the size of the TensorDesc that follows (0 < desc_len <= 4096)
 *   desc_len   a TensorDesc protobuf message: field 1 (varint) data_type, 5 = FP32;
 *              field 2 (repeated int64, packed or not) dims
 *   ...        the data: prod(dims) elements, little-endian, row-major; nothing after it
 *
 * Only FP32 data is read (every parameter of the models hubrun takes from Paddle is FP32).
 *
 *   hub_tensor *w = hub_paddle_load("lac_small/model_baseline/fc_0.w_0");   // [128,384] f32
 *   if (!w) fprintf(stderr, "%s\n", hub_last_error());
 *   // "paddle fc_0.w_0: data_type 6 (FP64) is not supported (only 5, FP32)"
 *
 * The GRU is fluid.layers.dynamic_gru (origin_mode false by default): its input x is the input
 * projection already computed by the fc before it, and its weight w [H, 3H] is NOT one [H, 3H]
 * matrix but two blocks in one buffer: the first 2H*H floats are Wg [H, 2H] (update then reset
 * gate), the last H*H floats are Wc [H, H] (candidate).  Per step, with g = x_t + b:
 *
 *   u = sigmoid(g[0:H] + h Wg[:, 0:H])        r = sigmoid(g[H:2H] + h Wg[:, H:2H])
 *   c = tanh(g[2H:3H] + (r * h) Wc)
 *   h = (1 - u) * h + u * c                   (origin_mode: h = u * h + (1 - u) * c)
 *
 * Batches of sequences of different lengths are padded: x [B, T, 3H] with lengths [B]; sequence
 * b occupies positions 0..lengths[b]-1, a reverse GRU reads it from lengths[b]-1 down to 0 (its
 * own end, not T-1), and the output at padded positions is 0.
 *
 * CRF decoding is linear_chain_crf's Viterbi: transition [C+2, C] holds the start scores (row
 * 0), the end scores (row 1) and the transition scores from tag i to tag j (row 2+i, column j).
 * The best path maximises start[y0] + sum emission[t, yt] + sum trans[y(t-1), yt] + end[yT-1];
 * among equal scores the lowest tag id wins.  Scores are accumulated in double precision.
 */
#ifndef HUB_PADDLE_H
#define HUB_PADDLE_H

#include "hub_tensor.h"

/* Reads one LoDTensor parameter file into a new contiguous f32 tensor.  Every field is checked
 * against the file size before it is used; a bad file gives NULL and an error naming the file
 * and the field ("paddle x.w_0: desc_len 9000 is beyond the 24 bytes left in the file"). */
HUB_API hub_tensor *hub_paddle_load(const char *path);

/* Paddle's GRU over padded sequences (see above): x [B, T, 3H] f32, w [H, 3H] f32, b [3H] or
 * [1, 3H] f32 or NULL, lengths [B] i32/i64 with 0 <= lengths[b] <= T or NULL (all T).  Returns
 * a new [B, T, H] f32 tensor, 0 at padded positions.  Inference only (not recorded by autograd). */
HUB_API hub_tensor *hub_paddle_gru(hub_tensor *x, hub_tensor *w, hub_tensor *b, hub_tensor *lengths,
                           int reverse, int origin_mode);

/* Viterbi decoding of a linear-chain CRF: emission [B, T, C] float, transition [C+2, C] float,
 * lengths [B] i32/i64 or NULL (all T).  Returns a new [B, T] i64 tensor of 0-based tag ids, -1
 * at padded positions (t >= lengths[b]). */
HUB_API hub_tensor *hub_crf_decode(hub_tensor *emission, hub_tensor *transition, hub_tensor *lengths);

#endif
