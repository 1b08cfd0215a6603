// The few float kernels that Eigen's packets cannot express (lane shuffles, byte packing), one
// version per vector ISA, each at the target's full width: AVX-512 in the x86-64-v4 module, AVX2
// in the x86-64-v3 one (design.md: no raw _mm256_* in a kernel, so the AVX-512 build really runs
// 512-bit registers). kVector is false where neither exists; callers then take their scalar loop.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__)
#define NNC_SIMD_AVX512 1
#include <immintrin.h>
#elif defined(__AVX2__) && defined(__FMA__)
#define NNC_SIMD_AVX2 1
#include <immintrin.h>
#endif

namespace nnc::simd {

#if defined(NNC_SIMD_AVX512)
constexpr bool kVector = true;
constexpr int kFloats = 16;  // floats in one register
#elif defined(NNC_SIMD_AVX2)
constexpr bool kVector = true;
constexpr int kFloats = 8;
#else
constexpr bool kVector = false;
constexpr int kFloats = 1;
#endif

#if defined(NNC_SIMD_AVX512)

// dst[c * ldd + r] = src[r * lds + c] for r, c < kFloats (a 16x16 block).
inline void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // Within each 128-bit lane L: r[4g + j] holds column 4L + j of rows 4g..4g+3.
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8)
    for (int j = 0; j < 4; ++j) {
      t[h + j] = _mm512_shuffle_f32x4(r[h + j], r[h + j + 4], 0x88);
      t[h + j + 4] = _mm512_shuffle_f32x4(r[h + j], r[h + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    _mm512_storeu_ps(dst + j * ldd, _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88));
    _mm512_storeu_ps(dst + (j + 8) * ldd, _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd));
  }
}

namespace detail {
// Even and odd elements of the 32 floats at p, in order.
inline void deinterleave(const float* p, __m512* even, __m512* odd) {
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 v0 = _mm512_loadu_ps(p), v1 = _mm512_loadu_ps(p + 16);
  *even = _mm512_permutex2var_ps(v0, ie, v1);
  *odd = _mm512_permutex2var_ps(v0, io, v1);
}

// Lanes where v replaces the running maximum m: v > m, or v is NaN.
inline __mmask16 replaces(__m512 v, __m512 m) {
  return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}
}  // namespace detail

// The kFloats 2x2 windows whose top rows start at r0 and bottom rows at r1 (2 * kFloats floats
// each): y[i] = their maximum (NaN wins, later taps win ties as in the scalar loop), tap[i] = the
// winning tap 0..3 (row-major in the window).
inline void max_pool_2x2_step(const float* r0, const float* r1, float* y, uint8_t* tap) {
  __m512 a, b, c, d;
  detail::deinterleave(r0, &a, &b);
  detail::deinterleave(r1, &c, &d);
  __m512 v = a;
  __m512i t = _mm512_setzero_si512();
  const __mmask16 mb = detail::replaces(b, v);
  v = _mm512_mask_blend_ps(mb, v, b);
  t = _mm512_mask_blend_epi32(mb, t, _mm512_set1_epi32(1));
  const __mmask16 mc = detail::replaces(c, v);
  v = _mm512_mask_blend_ps(mc, v, c);
  t = _mm512_mask_blend_epi32(mc, t, _mm512_set1_epi32(2));
  const __mmask16 md = detail::replaces(d, v);
  v = _mm512_mask_blend_ps(md, v, d);
  t = _mm512_mask_blend_epi32(md, t, _mm512_set1_epi32(3));
  _mm512_storeu_ps(y, v);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(tap), _mm512_cvtepi32_epi8(t));
}

// The gradient of kFloats windows: d[2i], d[2i + 1] = dy[i] where tap[i] is (first, first + 1),
// else 0; first is 0 for a window's top row, 2 for its bottom row.
inline void max_pool_2x2_grad_step(const float* dy, const uint8_t* tap, int first, float* d) {
  const __m512i t = _mm512_and_si512(
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tap))),
      _mm512_set1_epi32(3));
  const __m512 g = _mm512_loadu_ps(dy);
  const __m512 a = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(t, _mm512_set1_epi32(first)), g);
  const __m512 b =
      _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(t, _mm512_set1_epi32(first + 1)), g);
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  _mm512_storeu_ps(d, _mm512_permutex2var_ps(a, lo, b));
  _mm512_storeu_ps(d + 16, _mm512_permutex2var_ps(a, hi, b));
}

#elif defined(NNC_SIMD_AVX2)

// dst[c * ldd + r] = src[r * lds + c] for r, c < kFloats (an 8x8 block).
inline void transpose_tile(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 v[8], t[8];
  for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    v[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    v[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    v[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    v[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(v[i], v[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(v[i], v[i + 4], 0x31));
  }
}

namespace detail {
// Even and odd elements of the 16 floats at p, in order.
inline void deinterleave(const float* p, __m256* even, __m256* odd) {
  const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
  const __m256 e = _mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Lanes where v replaces the running maximum m: v > m, or v is NaN.
inline __m256 replaces(__m256 v, __m256 m) {
  return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
}  // namespace detail

// See the AVX-512 version.
inline void max_pool_2x2_step(const float* r0, const float* r1, float* y, uint8_t* tap) {
  const __m256i bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1, -1, -1);
  __m256 a, b, c, d;
  detail::deinterleave(r0, &a, &b);
  detail::deinterleave(r1, &c, &d);
  // The tap as 0..3 in each int32 lane: the last tap that replaced the running maximum.
  __m256 v = a;
  __m256i t = _mm256_setzero_si256();
  const __m256 mb = detail::replaces(b, v);
  v = _mm256_blendv_ps(v, b, mb);
  t = _mm256_blendv_epi8(t, _mm256_set1_epi32(1), _mm256_castps_si256(mb));
  const __m256 mc = detail::replaces(c, v);
  v = _mm256_blendv_ps(v, c, mc);
  t = _mm256_blendv_epi8(t, _mm256_set1_epi32(2), _mm256_castps_si256(mc));
  const __m256 md = detail::replaces(d, v);
  v = _mm256_blendv_ps(v, d, md);
  t = _mm256_blendv_epi8(t, _mm256_set1_epi32(3), _mm256_castps_si256(md));
  _mm256_storeu_ps(y, v);
  // The low byte of each lane, four per 128-bit half, stored as 8 bytes.
  const __m256i packed = _mm256_shuffle_epi8(t, bytes);
  const uint64_t lo = static_cast<uint32_t>(_mm256_extract_epi32(packed, 0));
  const uint64_t hi = static_cast<uint32_t>(_mm256_extract_epi32(packed, 4));
  const uint64_t eight = lo | (hi << 32);
  std::memcpy(tap, &eight, 8);
}

// See the AVX-512 version.
inline void max_pool_2x2_grad_step(const float* dy, const uint8_t* tap, int first, float* d) {
  uint64_t eight;
  std::memcpy(&eight, tap, 8);
  const __m256i t =
      _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(eight))),
                       _mm256_set1_epi32(3));
  const __m256 g = _mm256_loadu_ps(dy);
  auto gets = [&](int k) {
    return _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(t, _mm256_set1_epi32(k))));
  };
  const __m256 a = gets(first), b = gets(first + 1);
  const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
  _mm256_storeu_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

#endif

}  // namespace nnc::simd
