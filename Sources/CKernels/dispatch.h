#ifndef PP_DISPATCH_H
#define PP_DISPATCH_H
/// Whether the kernels of this target run their AVX-512 paths: the CPU has AVX-512 and
/// pp_panel_gemm_use_avx512 did not turn it off (one switch for all, so tests can check every
/// portable path against its AVX-512 twin).
int pp_kernels_avx512_selected(void);

#include <stddef.h>
/// pp_gated_gelu on the path `avx512` names, for kernels that read the selection once per call
/// rather than once per row.
void pp_gated_gelu_on(int avx512, float *out, const float *gate, const float *up, size_t n);
#endif
