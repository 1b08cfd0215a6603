#include "kernels/sort.h"


#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "common/parallel.h"

namespace nnc {

namespace {

template <class T>
using Entry = std::pair<T, int64_t>;  // (value, index in the row)

// Whether (a, ia) ranks ahead of (b, ib): NaN first when Largest (last otherwise), then larger
// (smaller) values, then the lower index. A strict total order, so every algorithm below
// selects and orders the same entries.
template <class T, bool Largest>
struct Ahead {
  bool operator()(const Entry<T>& a, const Entry<T>& b) const {
    const bool na = a.first != a.first, nb = b.first != b.first;
    if (na || nb) return na && nb ? a.second < b.second : (Largest ? na : nb);
    if (a.first != b.first) return Largest ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  }
};

// The same order for rows without NaN (most rows; checked first): no NaN tests, and bitwise
// operators so the comparison itself compiles to flag arithmetic rather than branches.
template <class T, bool Largest>
struct AheadFinite {
  bool operator()(const Entry<T>& a, const Entry<T>& b) const {
    const bool better = Largest ? a.first > b.first : a.first < b.first;
    return better | ((a.first == b.first) & (a.second < b.second));
  }
};

template <class T>
bool has_nan(const T* x, int64_t n) {
  int nans = 0;
  for (int64_t i = 0; i < n; ++i) nans |= x[i] != x[i];
  return nans != 0;
}

// Elements per block of the threshold scan: one or two vectors of compares, then one branch.
constexpr int64_t kScanBlock = 16;
// Selection by scan runs when k * kHeapRatio <= n; above it nth_element over the whole row,
// then a sort of the k, does as well (on (64, 65) rows, k = 16 and 17 timed within noise).
constexpr int64_t kHeapRatio = 4;
// Up to this k the k best are kept in a sorted array rather than a heap.
constexpr int64_t kInsertMax = 16;

// The k best of row x[0, n) into vals/idx, best first: a heap of the k best so far whose top is
// the worst of them; an element enters only if it ranks ahead of that top. Elements are
// visited in index order, so an equal value never displaces an earlier one, and a block whose
// values all fail `v <= top` (largest; `v >= top` smallest; a NaN fails both) is skipped by one
// branch: the common case once the heap holds large values.
template <class T, bool Largest, class Cmp>
void select_heap(const T* x, int64_t n, int64_t k, std::vector<Entry<T>>& heap, T* vals,
                 int64_t* idx) {
  const Cmp ahead;
  heap.resize(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) heap[i] = {x[i], i};
  std::make_heap(heap.begin(), heap.end(), ahead);
  T top = heap.front().first;
  auto consider = [&](int64_t i) {
    const Entry<T> e{x[i], i};
    if (ahead(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), ahead);
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end(), ahead);
      top = heap.front().first;
    }
  };
  int64_t i = k;
  for (; i + kScanBlock <= n; i += kScanBlock) {
    int candidates = 0;
    // NOTE: a plain counting loop the compiler vectorises at any width; a NaN top makes every
    // element a candidate, and consider() then decides exactly.
    for (int64_t j = 0; j < kScanBlock; ++j)
      candidates += Largest ? !(x[i + j] <= top) : !(x[i + j] >= top);
    if (candidates)
      for (int64_t j = 0; j < kScanBlock; ++j) consider(i + j);
  }
  for (; i < n; ++i) consider(i);
  std::sort_heap(heap.begin(), heap.end(), ahead);
  for (int64_t j = 0; j < k; ++j) {
    vals[j] = heap[j].first;
    idx[j] = heap[j].second;
  }
}

// The same selection for small k: the k best so far kept sorted, best first; an element that
// beats the last is inserted by shifting the worse ones down. Fewer unpredictable branches than
// heap sifts and no final sort (measured 3x faster than the heap on (64, 65) rows, k = 10).
template <class T, bool Largest, class Cmp>
void select_insert(const T* x, int64_t n, int64_t k, std::vector<Entry<T>>& top, T* vals,
                   int64_t* idx) {
  const Cmp ahead;
  top.resize(static_cast<size_t>(k));
  auto insert = [&](const Entry<T>& e, int64_t filled) {
    int64_t j = filled;
    for (; j > 0 && ahead(e, top[j - 1]); --j) top[j] = top[j - 1];
    top[j] = e;
  };
  for (int64_t i = 0; i < k; ++i) insert({x[i], i}, i);
  T worst = top[k - 1].first;
  auto consider = [&](int64_t i) {
    const Entry<T> e{x[i], i};
    if (ahead(e, top[k - 1])) {
      insert(e, k - 1);
      worst = top[k - 1].first;
    }
  };
  int64_t i = k;
  for (; i + kScanBlock <= n; i += kScanBlock) {
    int candidates = 0;
    for (int64_t j = 0; j < kScanBlock; ++j)
      candidates += Largest ? !(x[i + j] <= worst) : !(x[i + j] >= worst);
    if (candidates)
      for (int64_t j = 0; j < kScanBlock; ++j) consider(i + j);
  }
  for (; i < n; ++i) consider(i);
  for (int64_t j = 0; j < k; ++j) {
    vals[j] = top[j].first;
    idx[j] = top[j].second;
  }
}

// The same selection by nth_element over the whole row, then a sort of the k best.
template <class T, class Cmp>
void select_partition(const T* x, int64_t n, int64_t k, std::vector<Entry<T>>& buf, T* vals,
                      int64_t* idx) {
  const Cmp ahead;
  buf.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[i] = {x[i], i};
  if (k < n) std::nth_element(buf.begin(), buf.begin() + k, buf.end(), ahead);
  std::sort(buf.begin(), buf.begin() + k, ahead);
  for (int64_t j = 0; j < k; ++j) {
    vals[j] = buf[j].first;
    idx[j] = buf[j].second;
  }
}

template <class T, bool Largest, class Cmp>
void select_any(const T* x, int64_t n, int64_t k, std::vector<Entry<T>>& buf, T* vals,
                int64_t* idx) {
  if (k * kHeapRatio > n)
    select_partition<T, Cmp>(x, n, k, buf, vals, idx);
  else if (k <= kInsertMax)
    select_insert<T, Largest, Cmp>(x, n, k, buf, vals, idx);
  else
    select_heap<T, Largest, Cmp>(x, n, k, buf, vals, idx);
}

template <class T, bool Largest>
void select_row(const T* x, int64_t n, int64_t k, std::vector<Entry<T>>& buf, T* vals,
                int64_t* idx) {
  if (k == 0) return;
  if (has_nan(x, n))
    select_any<T, Largest, Ahead<T, Largest>>(x, n, k, buf, vals, idx);
  else
    select_any<T, Largest, AheadFinite<T, Largest>>(x, n, k, buf, vals, idx);
}

template <class T, bool Largest>
void topk_rows(const T* x, T* values, int64_t* indices, const TopkShape& s) {
  // NOTE: rows are independent and each is computed whole by one thread, so the result does
  // not depend on the thread count. Rows are handed out in chunks of about one grain of work
  // (dynamic), so on a loaded machine a running thread takes the rows of one that is not.
  if (run_parallel(s.rows * s.n) && s.rows > 1) {
    const int64_t chunk = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(s.n, 1));
    parallel_blocks(s.rows, chunk, s.rows * s.n, [&](int64_t r0, int64_t r1) {
      std::vector<Entry<T>> buf;
      for (int64_t r = r0; r < r1; ++r)
        select_row<T, Largest>(x + r * s.n, s.n, s.k, buf, values + r * s.k, indices + r * s.k);
    });
  } else {
    std::vector<Entry<T>> buf;
    for (int64_t r = 0; r < s.rows; ++r)
      select_row<T, Largest>(x + r * s.n, s.n, s.k, buf, values + r * s.k, indices + r * s.k);
  }
}

}  // namespace

template <class T>
void topk_forward(const T* x, T* values, int64_t* indices, const TopkShape& s) {
  if (s.largest)
    topk_rows<T, true>(x, values, indices, s);
  else
    topk_rows<T, false>(x, values, indices, s);
}

template <class T>
void topk_backward(const T* dy, const int64_t* indices, T* dx, const TopkShape& s) {
  auto row = [&](int64_t r) {
    T* d = dx + r * s.n;
    std::memset(d, 0, sizeof(T) * static_cast<size_t>(s.n));
    for (int64_t j = 0; j < s.k; ++j) d[indices[r * s.k + j]] = dy[r * s.k + j];
  };
  const int64_t chunk = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(s.n, 1));
  parallel_blocks(s.rows, chunk, s.rows * s.n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) row(r);
  });
}

#define NNC_INSTANTIATE_SORT(T)                                                      \
  template void topk_forward<T>(const T*, T*, int64_t*, const TopkShape&);           \
  template void topk_backward<T>(const T*, const int64_t*, T*, const TopkShape&);

NNC_INSTANTIATE_SORT(float)
NNC_INSTANTIATE_SORT(double)

}  // namespace nnc
