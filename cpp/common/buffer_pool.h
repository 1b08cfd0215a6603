// A cache of the large buffers behind nncore's output arrays. Training allocates the same
// shapes every step; reusing their memory saves the page faults of fresh allocations.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnc {

// NOTE: measured on a LeNet training step: glibc serves arrays of a few MB with fresh mmaps (or
// trims them off the heap top), so every step page-faults its activations in again, 10-25% of
// the step. Buffers below this size come from malloc's own free lists and are not pooled.
constexpr size_t kPoolMinBytes = size_t{64} << 10;

// A buffer of at least `bytes` bytes (64-byte aligned), reused from the cache when one of the
// same rounded size is free. Throws std::bad_alloc when memory is exhausted.
void* pool_acquire(size_t bytes);

// Returns a buffer from pool_acquire to the cache, or frees it when the cache is full.
void pool_release(void* p) noexcept;

// Frees every cached buffer (buffers in use are untouched).
void pool_clear() noexcept;

struct PoolStats {
  int64_t cached_bytes, cached_buffers, limit_bytes, hits, misses;
};
PoolStats pool_stats() noexcept;

// Cache limit in bytes (0 disables caching); the default is 512 MiB, or NNCORE_POOL_MB.
void pool_set_limit(int64_t bytes) noexcept;

}  // namespace nnc
