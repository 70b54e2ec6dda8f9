/* mtl_arena: the combiner's scratch memory as a checked bump allocator (the
 * mark/alloc/reset stack MuJoCo keeps in mjData is the model). Each method
 * declares how many bytes it needs for up to K rows (mtl_method_def.work,
 * built from mtl_arena_size of each of its allocations); mtl_create makes
 * one buffer of that size, and every call slices it through mtl_arena_alloc.
 * A request past the end returns NULL and marks the arena overflowed, so a
 * declaration that is too small shows up as an error of the call (and in
 * the tests) instead of as a write into a neighbouring slice. Internal to
 * src/mtl; depends on nothing. */
#ifndef MTRL_MTL_ARENA_H
#define MTRL_MTL_ARENA_H

#include <stddef.h>

typedef struct mtl_arena {
    unsigned char *base;
    size_t cap;   /* bytes */
    size_t top;   /* bytes in use */
    size_t peak;  /* the most ever in use (a method's real need) */
    size_t want;  /* on overflow: the bytes the failed request needed in all */
    int overflow; /* 1 once a request did not fit; cleared by mtl_arena_clear */
} mtl_arena;

/* Every slice starts on this boundary (doubles and 16-byte vectors). */
#define MTL_ARENA_ALIGN 16

/* Bytes that n elements of elem bytes take in the arena, padding included:
 * what a method adds up per allocation in its work-size declaration. */
size_t mtl_arena_size(long n, size_t elem);

/* An arena over buf (cap bytes, MTL_ARENA_ALIGN-aligned, e.g. from malloc). */
void mtl_arena_init(mtl_arena *a, void *buf, size_t cap);
/* Empties the arena and clears overflow (start of every combine call). */
void mtl_arena_clear(mtl_arena *a);

/* n elements of elem bytes, uninitialised, or NULL (and overflow set) when
 * they do not fit. n < 0 is refused the same way. */
void *mtl_arena_alloc(mtl_arena *a, long n, size_t elem);
double *mtl_arena_doubles(mtl_arena *a, long n);
float *mtl_arena_floats(mtl_arena *a, long n);
int *mtl_arena_ints(mtl_arena *a, long n);

/* mark / reset: a solver that calls another one (Nash-MTL runs MGDA's) or a
 * check that needs scratch only briefly gives it back. */
size_t mtl_arena_mark(const mtl_arena *a);
void mtl_arena_reset(mtl_arena *a, size_t mark);

#endif
