/* rng: PCG32 and the draws built on it (see rng.h). */
#include "rng.h"

#include <math.h>

void rng_seed(Rng *rng, uint64_t seed, uint64_t stream) {
    /* The reference initialisation: step once, add the seed, step again. */
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    rng_u32(rng);
    rng->state += seed;
    rng_u32(rng);
}

uint32_t rng_u32(Rng *rng) {
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u); /* mix high bits down */
    uint32_t rot = (uint32_t)(old >> 59u);                          /* top 5 bits pick the rotation */
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

float rng_uniform(Rng *rng) { return (float)(rng_u32(rng) >> 8) * (1.0f / 16777216.0f); }

uint32_t rng_below(Rng *rng, uint32_t n) {
    /* Reject the few values at the top that would make some residues more likely than others. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t r = rng_u32(rng);
        if (r >= threshold) return r % n;
    }
}

double rng_normal(Rng *rng) {
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = ((double)rng_u32(rng) + 1.0) / 4294967296.0; /* (0, 1]: log(u1) is finite */
    double u2 = (double)rng_u32(rng) / 4294967296.0;         /* [0, 1) */
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

uint64_t rng_hash_string(const char *s) {
    uint64_t h = 14695981039346656037ULL; /* FNV offset basis */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL; /* FNV prime */
    }
    return h;
}
