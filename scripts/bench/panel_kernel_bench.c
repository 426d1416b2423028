// Panel kernel vs OpenBLAS sgemm on the Gemma-3 270M's projections (make bench-kernel).
//
// One "forward's worth" of products: the seven projections of 18 layers, each layer with its own
// weights (so they come from memory as in a real forward), for T rows of input. The panel kernel
// reads weights packed once (as pp-model, pp-sae and pp-eval do); sgemm gets the row-major weights
// (CblasNoTrans x CblasTrans, as matmulForward calls it) and packs them itself on every call.
// Both use both cores: OpenBLAS its own threads, the panel kernel two pthreads splitting the panels.
// Prints the best of R passes as GFLOP/s and the ratio. Build: see mk/model.mk.
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cpanelgemm.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

typedef struct { float *out; const float *inp; const float *panels; size_t T, N, K, p0, p1; } Part;
static void *run_part(void *arg) {
    Part *p = arg;
    pp_panel_gemm(p->out, p->N, p->inp, p->K, p->panels, PP_PANEL_WIDTH, PP_PANEL_WIDTH * p->K, p->K, p->T, p->N,
                  p->p0, p->p1, NULL, NULL);
    return NULL;
}
static void panel_product(float *out, const float *inp, const float *panels, size_t T, size_t N, size_t K) {
    size_t np = (N + PP_PANEL_WIDTH - 1) / PP_PANEL_WIDTH;
    Part a = {out, inp, panels, T, N, K, 0, np / 2}, b = {out, inp, panels, T, N, K, np / 2, np};
    pthread_t thread;
    pthread_create(&thread, NULL, run_part, &b);
    run_part(&a);
    pthread_join(thread, NULL);
}

int main(int argc, char **argv) {
    const int layers = 18, repeats = argc > 1 ? atoi(argv[1]) : 5;
    // [out, in] of q, k, v, o, gate, up, down
    const size_t shapes[7][2] = {{1024, 640}, {256, 640}, {256, 640}, {640, 1024}, {2048, 640}, {2048, 640}, {640, 2048}};
    float *dense[18][7], *packed[18][7];
    for (int l = 0; l < layers; l++)
        for (int s = 0; s < 7; s++) {
            size_t N = shapes[s][0], K = shapes[s][1];
            dense[l][s] = malloc(N * K * sizeof(float));
            packed[l][s] = malloc(pp_panel_floats(N, K) * sizeof(float));
            for (size_t i = 0; i < N * K; i++) dense[l][s][i] = (float)((i * 7 + l) % 13) * 0.01f - 0.06f;
            pp_pack_panels(packed[l][s], dense[l][s], N, K, K);
        }
    float *inp = malloc(384 * 2048 * sizeof(float)), *out = malloc(384 * 2048 * sizeof(float));
    for (size_t i = 0; i < 384 * 2048; i++) inp[i] = (float)((i * 3) % 11) * 0.1f - 0.5f;
    printf("panel kernel (%s) vs OpenBLAS sgemm, Gemma-3 270M projections x 18 layers, 2 cores, best of %d\n",
           pp_panel_gemm_has_avx512() ? "AVX-512" : "portable", repeats);
    printf("%6s %14s %14s %8s\n", "rows", "sgemm GFLOP/s", "panel GFLOP/s", "ratio");
    const size_t rowCounts[3] = {384, 220, 64};
    for (int r = 0; r < 3; r++) {
        size_t T = rowCounts[r];
        double flops = 0, best[2] = {1e9, 1e9};
        for (int s = 0; s < 7; s++) flops += 2.0 * T * shapes[s][0] * shapes[s][1] * layers;
        // all sgemm passes first: OpenBLAS's threads keep spinning for a while after a call and
        // would take a core from the panel kernel if the two alternated
        for (int kernel = 0; kernel < 2; kernel++)
            for (int rep = 0; rep < repeats; rep++) {
                double t = now();
                for (int l = 0; l < layers; l++)
                    for (int s = 0; s < 7; s++) {
                        size_t N = shapes[s][0], K = shapes[s][1];
                        if (kernel == 0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1, inp, K, dense[l][s], K, 0, out, N);
                        else
                            panel_product(out, inp, packed[l][s], T, N, K);
                    }
                t = now() - t;
                if (t < best[kernel]) best[kernel] = t;
            }
        printf("%6zu %14.1f %14.1f %7.2fx\n", T, flops / best[0] / 1e9, flops / best[1] / 1e9, best[0] / best[1]);
    }
    return 0;
}
