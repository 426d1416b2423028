#ifndef PP_ALLOCATION_H
#define PP_ALLOCATION_H

/// Lets glibc's malloc serve blocks of up to 1 GiB from its heap and keep them there when freed
/// (M_MMAP_THRESHOLD and M_TRIM_THRESHOLD at 1 GiB), so that a process allocating the same large
/// buffer again and again writes pages it has already touched. Returns 1 when both took effect,
/// 0 otherwise (and off glibc, where it does nothing).
int pp_keep_large_blocks_for_reuse(void);

#endif
