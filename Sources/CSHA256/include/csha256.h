#ifndef CSHA256_H
#define CSHA256_H
#include <stddef.h>
#include <stdint.h>

/// SHA-256 of `length` bytes into `digest` (32 bytes). Uses the x86 SHA extensions when the CPU
/// has them (checked once at run time), portable C otherwise; both give the same digest.
void csha256(const void *data, size_t length, uint8_t digest[32]);

/// Incremental form: init, update any number of times, final.
typedef struct {
    uint32_t state[8];
    uint64_t length;
    uint8_t buffer[64];
    size_t buffered;
} csha256_ctx;

void csha256_init(csha256_ctx *ctx);
void csha256_update(csha256_ctx *ctx, const void *data, size_t length);
void csha256_final(csha256_ctx *ctx, uint8_t digest[32]);

/// Tests: 1 forces the portable block function, 0 restores the automatic choice. Returns 1 if
/// the SHA-NI path is available on this CPU.
int csha256_force_portable(int on);

#endif
