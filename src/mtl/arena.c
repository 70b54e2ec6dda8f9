/* The checked bump allocator of arena.h. */
#include "mtl/arena.h"

#include <stdint.h>

size_t mtl_arena_size(long n, size_t elem)
{
    if (n <= 0)
        return 0;
    size_t b = (size_t)n * elem;
    return (b + MTL_ARENA_ALIGN - 1) / MTL_ARENA_ALIGN * MTL_ARENA_ALIGN;
}

void mtl_arena_init(mtl_arena *a, void *buf, size_t cap)
{
    a->base = buf;
    a->cap = cap;
    a->top = a->peak = a->want = 0;
    a->overflow = 0;
}

void mtl_arena_clear(mtl_arena *a)
{
    a->top = 0;
    a->want = 0;
    a->overflow = 0;
}

void *mtl_arena_alloc(mtl_arena *a, long n, size_t elem)
{
    /* Refuse sizes whose byte count would wrap before comparing with cap. */
    if (n < 0 || (elem && (size_t)n > (SIZE_MAX - MTL_ARENA_ALIGN) / elem)) {
        a->overflow = 1;
        a->want = SIZE_MAX;
        return NULL;
    }
    size_t b = mtl_arena_size(n, elem);
    if (b > a->cap - a->top) {
        if (!a->overflow || a->want < a->top + b)
            a->want = a->top + b;
        a->overflow = 1;
        return NULL;
    }
    void *p = a->base + a->top;
    a->top += b;
    if (a->top > a->peak)
        a->peak = a->top;
    return p;
}

double *mtl_arena_doubles(mtl_arena *a, long n) { return mtl_arena_alloc(a, n, sizeof(double)); }
float *mtl_arena_floats(mtl_arena *a, long n) { return mtl_arena_alloc(a, n, sizeof(float)); }
int *mtl_arena_ints(mtl_arena *a, long n) { return mtl_arena_alloc(a, n, sizeof(int)); }

size_t mtl_arena_mark(const mtl_arena *a) { return a->top; }

void mtl_arena_reset(mtl_arena *a, size_t mark)
{
    if (mark <= a->top)
        a->top = mark;
}
