// Element-wise kernels of the forward, with an AVX-512 path chosen at run time (see elementwise.h).
//
// Each reproduces, operation for operation and in the same order, the Swift version it replaces
// (PlaypenTensor's `vexp`, `geluSigmoid`; no fused multiply-adds: the target is compiled with
// -ffp-contract=off, and baseline x86-64 has none), so every path gives the same bits.
#include "elementwise.h"
#include "dispatch.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static const float gelu_slope = 0.7978845608028654f;  // sqrt(2 / pi)
static const float gelu_cubic = 0.044715f;

// e^x: Cephes' expf as PlaypenTensor's vexp (range reduction by ln 2 in two constants, degree-6
// polynomial, 2^n assembled in the exponent bits, inputs clamped to [-87.33654, 88.37626]).
static inline float exp_portable(float x) {
    if (x > 88.37626f) x = 88.37626f;
    if (x < -87.33654f) x = -87.33654f;
    float shifted = x * 1.44269504088896341f;
    shifted = shifted + 12582912.0f;
    float n = shifted - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r; p = p + 1.3981999507e-3f;
    p = p * r; p = p + 8.3334519073e-3f;
    p = p * r; p = p + 4.1665795894e-2f;
    p = p * r; p = p + 1.6666665459e-1f;
    p = p * r; p = p + 5.0000001201e-1f;
    float r2 = r * r;
    p = p * r2; p = p + r; p = p + 1.0f;
    union { float f; int i; } s = {shifted}, e;
    e.i = (int)(((unsigned)s.i - 0x4B400000u + 127u) << 23);
    return p * e.f;
}

static void gated_gelu_portable(float *out, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = gate[i];
        float cube = gelu_cubic * x; cube = cube * x; cube = cube * x;
        float arg = -2.0f * gelu_slope;
        arg = arg * (x + cube);
        float s = 1.0f / (1.0f + exp_portable(arg));
        float g = x * s;
        out[i] = g * up[i];
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static inline __m512 exp_avx512(__m512 x) {
    x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.37626f), _CMP_GT_OQ), _mm512_set1_ps(88.37626f));
    x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_LT_OQ), _mm512_set1_ps(-87.33654f));
    __m512 shifted = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _mm512_set1_ps(12582912.0f));
    __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(12582912.0f));
    __m512 r = _mm512_add_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f))),
                             _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
    __m512i e = _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000)), _mm512_set1_epi32(127));
    return _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(e, 23)));
}

__attribute__((target("avx512f")))
static void gated_gelu_avx512(float *out, const float *gate, const float *up, size_t n) {
    const __m512 cubic = _mm512_set1_ps(gelu_cubic), factor = _mm512_set1_ps(-2.0f * gelu_slope), one = _mm512_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(gate + i);
        __m512 cube = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(cubic, x), x), x);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(_mm512_mul_ps(factor, _mm512_add_ps(x, cube)))));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_loadu_ps(up + i)));
    }
    gated_gelu_portable(out + i, gate + i, up + i, n - i);
}
#endif

void pp_gated_gelu_on(int avx512, float *out, const float *gate, const float *up, size_t n) {
#if defined(__x86_64__)
    if (avx512) { gated_gelu_avx512(out, gate, up, n); return; }
#else
    (void)avx512;
#endif
    gated_gelu_portable(out, gate, up, n);
}

void pp_gated_gelu(float *out, const float *gate, const float *up, size_t n) {
    pp_gated_gelu_on(pp_kernels_avx512_selected(), out, gate, up, n);
}
