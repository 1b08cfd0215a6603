#include "common/buffer_pool.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace nnc {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kPage = 4096;

// Each block starts with a header of kAlign bytes holding its size; the caller's buffer follows.
size_t rounded(size_t bytes) { return (bytes + kAlign + kPage - 1) / kPage * kPage; }
void* user_buffer(void* block) { return static_cast<char*>(block) + kAlign; }
void* block_of(void* buf) { return static_cast<char*>(buf) - kAlign; }

int64_t default_limit() {
  if (const char* mb = std::getenv("NNCORE_POOL_MB")) {
    char* end = nullptr;
    const long long v = std::strtoll(mb, &end, 10);
    if (end != mb && v >= 0) return int64_t(v) << 20;
  }
  return int64_t{512} << 20;
}

struct Pool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // by rounded size
  int64_t cached_bytes = 0, cached_buffers = 0, hits = 0, misses = 0;
  int64_t limit = default_limit();
};

// NOTE: never destroyed: numpy may free arrays (and so release buffers) during interpreter
// shutdown, after static destructors would have run.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

}  // namespace

void* pool_acquire(size_t bytes) {
  // NOTE: rounding up must not wrap a huge request into a small block; callers check sizes
  // first (empty_like_shape), this only keeps the pool itself safe.
  if (bytes > (size_t{1} << 62)) throw std::bad_alloc();
  const size_t size = rounded(bytes);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free_lists.find(size);
    if (it != p.free_lists.end() && !it->second.empty()) {
      void* block = it->second.back();
      it->second.pop_back();
      p.cached_bytes -= int64_t(size);
      --p.cached_buffers;
      ++p.hits;
      return user_buffer(block);
    }
    ++p.misses;
  }
  void* block = std::aligned_alloc(kAlign, size);
  if (!block) {
    // Memory is short: give the cache back and try once more before failing.
    pool_clear();
    block = std::aligned_alloc(kAlign, size);
    if (!block) throw std::bad_alloc();
  }
  *static_cast<size_t*>(block) = size;
  return user_buffer(block);
}

void pool_release(void* buf) noexcept {
  if (!buf) return;
  void* block = block_of(buf);
  const size_t size = *static_cast<size_t*>(block);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.cached_bytes + int64_t(size) <= p.limit) {
      try {
        p.free_lists[size].push_back(block);
        p.cached_bytes += int64_t(size);
        ++p.cached_buffers;
        return;
      } catch (...) {
        // No memory for the list entry: free the buffer instead.
      }
    }
  }
  std::free(block);
}

void pool_clear() noexcept {
  Pool& p = pool();
  std::unordered_map<size_t, std::vector<void*>> lists;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    lists.swap(p.free_lists);
    p.cached_bytes = 0;
    p.cached_buffers = 0;
  }
  for (auto& entry : lists)
    for (void* block : entry.second) std::free(block);
}

PoolStats pool_stats() noexcept {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return {p.cached_bytes, p.cached_buffers, p.limit, p.hits, p.misses};
}

void pool_set_limit(int64_t bytes) noexcept {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    p.limit = bytes < 0 ? 0 : bytes;
    if (p.cached_bytes <= p.limit) return;
  }
  pool_clear();
}

}  // namespace nnc
