#ifndef CPANELGEMM_H
#define CPANELGEMM_H
#include <stddef.h>

/// Width of one panel: a packed weight matrix stores its rows (output features) in groups of
/// this many, each group as `K` consecutive runs of `PP_PANEL_WIDTH` floats (one run per input
/// feature), so the kernel reads every weight once, in order, without repacking it per call.
#define PP_PANEL_WIDTH 32

/// Floats a packed copy of an `N x K` row-major matrix takes (N rounded up to whole panels).
size_t pp_panel_floats(size_t N, size_t K);

/// Packs the row-major `N x K` matrix `w` into `panels` (pp_panel_floats(N, K) floats);
/// rows past N in the last panel are zero.
void pp_pack_panels(float *panels, const float *w, size_t N, size_t K);

/// Packs panels panelBegin ..< panelEnd of a row-major `N x K` matrix in place, N a multiple of
/// PP_PANEL_WIDTH: a panel's rows are one contiguous block, transposed through `scratch`
/// (PP_PANEL_WIDTH * K floats), so packing takes no second copy of the matrix.
void pp_pack_panels_in_place(float *w, size_t K, size_t panelBegin, size_t panelEnd, float *scratch);

/// out[t * ldo + n] = sum_k inp[t * ldi + k] * W[n][k] for t < T and the output features n of
/// panels panelBegin ..< panelEnd (n < N), where W is the matrix packed in `panels`. Each output
/// is summed in a fixed order (fused multiply-add chains over blocks of k, the blocks added in
/// order), so the result does not depend on how callers split the panels between threads.
void pp_panel_gemm(float *out, size_t ldo, const float *inp, size_t ldi, const float *panels,
                   size_t K, size_t T, size_t N, size_t panelBegin, size_t panelEnd);

/// Which kernel pp_panel_gemm runs: 1 = AVX-512 (chosen when the CPU has it), 0 = portable C.
/// Tests set 0 to check the portable kernel on machines that have AVX-512; returns the previous value.
int pp_panel_gemm_use_avx512(int enable);
int pp_panel_gemm_has_avx512(void);

#endif
