/* hub_base.h - dtypes, devices, errors, memory statistics, RNG and threads.
 *
 * Conventions of the whole C API (the LuaJIT binding relies on them):
 *  - Functions that return a tensor return a NEW reference (the caller releases it) or NULL on
 *    failure; functions that return int return 0 on success and -1 on failure.  On failure the
 *    message is in hub_last_error() (thread-local), e.g. "matmul: shapes [2,3] and [4,5] do not
 *    match".  Nothing in the library aborts or exits on bad input.
 *  - Tensor arguments are borrowed: the callee retains what it keeps.
 *  - Dimensions are 0-based and may be negative (counted from the end) in C; the Lua layer
 *    converts its 1-based dimensions.
 *  - Names are snake_case <noun>_<verb>; enum values carry the enum's prefix.
 *
 * This header, like every public header, is also fed to the C preprocessor with HUB_CDEF defined
 * to generate the LuaJIT FFI declarations: keep declarations plain C (no macros in prototypes),
 * and put system includes inside #ifndef HUB_CDEF.
 */
#ifndef HUB_BASE_H
#define HUB_BASE_H

#ifndef HUB_CDEF
#include <stddef.h>
#include <stdint.h>
#endif

enum { HUB_MAX_DIMS = 8 };

/* HUB_API marks what libhub exports: it is built with -fvisibility=hidden, so only the functions
 * of these public headers (all named hub_*) are visible to programs that link it. */
#if defined(HUB_CDEF) || !defined(__GNUC__)
#define HUB_API
#else
#define HUB_API __attribute__((visibility("default")))
#endif

typedef enum hub_dtype {
  HUB_F32 = 0,
  HUB_F16 = 1,
  HUB_BF16 = 2,
  HUB_I32 = 3,
  HUB_I64 = 4,
  HUB_U8 = 5,
  HUB_BOOL = 6,
  HUB_F64 = 7, /* CPU only: creation, conversion, printing, elementwise ops, reductions, matmul */
  HUB_DTYPE_COUNT = 8
} hub_dtype;

typedef enum hub_device {
  HUB_CPU = 0,
  HUB_CUDA = 1,
  HUB_DEVICE_COUNT = 2
} hub_device;

/* Library version, e.g. "0.1.0". */
HUB_API const char *hub_version(void);

/* The message of the last failed call on this thread ("" if none). */
HUB_API const char *hub_last_error(void);
/* Clears the message (useful before a call whose failure is optional). */
HUB_API void hub_clear_error(void);

/* dtype and device names: "f32", "f16", "bf16", "i32", "i64", "u8", "bool", "f64"; "cpu", "cuda".
 * hub_dtype_from_name returns -1 (and sets the error) for an unknown name. */
HUB_API const char *hub_dtype_name(int dtype);
HUB_API int hub_dtype_from_name(const char *name);
HUB_API size_t hub_dtype_size(int dtype);
HUB_API int hub_dtype_is_float(int dtype);
/* Type promotion as PyTorch and NumPy do it: the dtype an op between tensors of dtypes a and b
 * computes in and returns.  bool < integers < floats by category; within integers the wider
 * (u8 < i32 < i64); within floats f32 beats f16/bf16, and f16 with bf16 gives f32.  -1 (and the
 * error set) for an unknown dtype. */
HUB_API int hub_promote_types(int a, int b);
/* The same between a tensor of dtype t and a number s (PyTorch's rule for Python scalars, which
 * do not widen a tensor's dtype within its category): t when s is integral and t an integer,
 * i64 for a bool t and an integral s, f32 for an integer or bool t and a non-integral s, t when
 * t is a float dtype. */
HUB_API int hub_result_type_scalar(int t, double s);
HUB_API const char *hub_device_name(int device);
HUB_API int hub_device_from_name(const char *name);
/* 1 when the device has a backend in this build and, for CUDA, a GPU is present. */
HUB_API int hub_device_available(int device);

/* Memory statistics of the caching allocator, per device. */
typedef struct hub_mem_stats {
  int64_t live_bytes;     /* bytes handed out and not yet freed */
  int64_t cached_bytes;   /* bytes kept in the cache for reuse */
  int64_t peak_bytes;     /* high-water mark of live_bytes */
  int64_t alloc_count;    /* number of allocations served (cache hits included) */
  int64_t os_alloc_count; /* allocations that went to the operating system */
} hub_mem_stats;
HUB_API void hub_mem_get_stats(int device, hub_mem_stats *out);
/* Bytes allocated (served) since the process started; monotonic. The Lua binding uses it to
 * pace LuaJIT's collector to C memory. */
HUB_API int64_t hub_mem_allocated_total(void);
/* Returns every cached block to the operating system. */
HUB_API void hub_mem_empty_cache(int device);
/* Upper bound of the cache in bytes; blocks beyond it go back to the OS.  The default (restored
 * with bytes < 0) is the larger of 1 GiB and peak_bytes - live_bytes, so the cache never holds
 * more than a loop's own high-water mark needs again. */
HUB_API void hub_mem_set_cache_limit(int device, int64_t bytes);

/* Seeds the global generator used by randn, rand, randint and dropout.  The same seed gives the
 * same numbers on every run and thread count. */
HUB_API void hub_manual_seed(uint64_t seed);
HUB_API uint64_t hub_initial_seed(void);
/* The generator's whole state: its seed and how many numbers it has handed out.  Setting a saved
 * state makes every later randn, rand, randint and dropout draw what they drew after the save
 * (checkpoints use this to resume bit-identically).  set_state(seed, 0) is manual_seed(seed). */
HUB_API void hub_rng_get_state(uint64_t *seed, uint64_t *counter);
HUB_API void hub_rng_set_state(uint64_t seed, uint64_t counter);

/* Threads used by OpenMP loops and oneDNN (0 = all cores). */
HUB_API void hub_set_num_threads(int n);
HUB_API int hub_get_num_threads(void);

#endif
