#ifndef CPANELGEMM_H
#define CPANELGEMM_H
#include <stddef.h>

/// Width of one panel: the kernel computes PP_PANEL_WIDTH output columns at a time, reading for
/// each input k one run of PP_PANEL_WIDTH contiguous values of the right-hand matrix B [K x N].
/// A weight matrix W [N x K] (B = Wᵀ) is packed once so that those runs follow each other:
/// panel p holds rows 32p ..< 32p + 32 of W as K runs of 32 values (one per input feature).
#define PP_PANEL_WIDTH 32

/// Floats a packed copy of an `N x K` row-major matrix takes (N rounded up to whole panels).
size_t pp_panel_floats(size_t N, size_t K);

/// Packs the `N x K` matrix `w` (row stride `ldw`) into `panels` (pp_panel_floats(N, K) floats);
/// rows past N in the last panel are zero.
void pp_pack_panels(float *panels, const float *w, size_t N, size_t K, size_t ldw);

/// Packs B [K x N] (row stride `ldb`), the transpose of the matrix `pp_pack_panels` takes: panel p
/// is K runs of columns 32p ..< 32p + 32, copied row by row (zero past N).
void pp_pack_panels_from_columns(float *panels, const float *b, size_t K, size_t N, size_t ldb);

/// Packs panels panelBegin ..< panelEnd of a row-major `N x K` matrix in place, N a multiple of
/// PP_PANEL_WIDTH: a panel's rows are one contiguous block, transposed through `scratch`
/// (PP_PANEL_WIDTH * K floats), so packing takes no second copy of the matrix.
void pp_pack_panels_in_place(float *w, size_t K, size_t panelBegin, size_t panelEnd, float *scratch);

/// out[t * ldo + n] = sum_k inp[t * ldi + k] * B[k][n] for t < T and the columns n < N of panels
/// panelBegin ..< panelEnd, where column n of row k of B is at
/// `b + (n / 32) * panelStride + k * ldb + n % 32`. A packed W: ldb = 32, panelStride = 32 K.
/// A row-major B [K x N]: ldb = its row stride, panelStride = 32. Columns at or past N are
/// neither read nor written. Each output is summed in a fixed order (fused multiply-add chains
/// over blocks of k, the blocks added in order), so the result does not depend on how callers
/// split the panels between threads. Optional epilogue (NULL to skip): `bias` [N] is added to
/// every row; then with `floor` [N] an output stays only where it is strictly above both floor[n]
/// and 0 and becomes 0 elsewhere (ReLU with a zero floor, JumpReLU with its thresholds).
void pp_panel_gemm(float *out, size_t ldo, const float *inp, size_t ldi, const float *b, size_t ldb,
                   size_t panelStride, size_t K, size_t T, size_t N, size_t panelBegin, size_t panelEnd,
                   const float *bias, const float *floor);

/// out[t * ldo + n] = gelu_tanh(g) * u with g, u the products of the input with two packed
/// matrices of the same shape (a gated MLP's gate and up projections, panels as pp_pack_panels
/// makes them), for t < T and the columns of panels panelBegin ..< panelEnd: the bits of
/// pp_panel_gemm for each followed by pp_gated_gelu.
void pp_panel_gemm_gated_gelu(float *out, size_t ldo, const float *inp, size_t ldi, const float *gate,
                              const float *up, size_t K, size_t T, size_t N, size_t panelBegin, size_t panelEnd);

/// Q8_0 weights (ggml blocks of 32: fp16 scale d, 32 int8 q; value d * q) kept quantized as
/// int8 panels: the layout of pp_pack_panels with one byte per value, and per panel and block of 32
/// inputs the 32 rows' scales as fp32 (`scales[(p * K / 32 + k / 32) * 32 + n % 32]`). A quarter of
/// the memory of the fp32 panels; products dequantize one panel at a time into a scratch panel and
/// run the fp32 kernel on it, so they give the same bits as pp_panel_gemm on the dequantized matrix.
/// An `N x K` matrix (K a multiple of 32) takes pp_panel_floats(N, K) values and
/// pp_panel_floats(N, K / 32) scales.

/// Packs the int8 values of panels panelBegin ..< panelEnd from ggml Q8_0 rows (`blocks`, K / 32
/// blocks of 34 bytes per row); rows past N are zero. The scales are filled by the caller.
void pp_q8_pack_panels(signed char *values, const unsigned char *blocks, size_t N, size_t K,
                       size_t panelBegin, size_t panelEnd);

/// pp_panel_gemm (no epilogue) over Q8_0 panels; `scratch` holds PP_PANEL_WIDTH * K floats.
void pp_q8_panel_gemm(float *out, size_t ldo, const float *inp, size_t ldi, const signed char *values,
                      const float *scales, size_t K, size_t T, size_t N, size_t panelBegin, size_t panelEnd,
                      float *scratch);

/// dst[k] = (d * q of row `row`, input k) * scale for k < K: an embedding lookup.
void pp_q8_panel_row(float *dst, const signed char *values, const float *scales, size_t K, size_t row, float scale);

/// Which path every kernel of this target (panel products, Q8_0 panels, element-wise.h) runs:
/// 1 = AVX-512 (chosen when the CPU has it), 0 = portable C. Tests set 0 to check the portable
/// paths on machines that have AVX-512; returns the previous value.
int pp_panel_gemm_use_avx512(int enable);
int pp_panel_gemm_has_avx512(void);

#endif
