#ifndef PP_ELEMENTWISE_H
#define PP_ELEMENTWISE_H
#include <stddef.h>

/// out[i] = gelu_tanh(gate[i]) * up[i] for i < n (PyTorch approximate="tanh"), as PlaypenTensor's
/// gatedGeluForward defines it: 0.5 x (1 + tanh(u)) computed as x * sigmoid(2u) with its exp.
/// AVX-512 when selected (pp_panel_gemm_use_avx512), portable C otherwise; same bits either way.
void pp_gated_gelu(float *out, const float *gate, const float *up, size_t n);

#endif
