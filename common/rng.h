/* rng: a small deterministic random number generator, passed explicitly to whoever draws.
 *
 * Algorithm: PCG32 (O'Neill 2014, "PCG-XSH-RR 64/32"): a 64-bit linear congruential state
 *   state' = state * 6364136223846793005 + inc
 * whose output is the old state's top bits, xor-shifted and rotated by its top 5 bits.
 * `inc` must be odd; it selects one of 2^63 independent streams. Same seed and stream, same numbers,
 * on every machine: there is no global generator anywhere in the project. */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc; /* odd */
} Rng;

/* Start a generator from `seed` on stream `stream` (any two values; equal pairs, equal streams). */
void rng_seed(Rng *rng, uint64_t seed, uint64_t stream);

uint32_t rng_u32(Rng *rng);
/* Uniform in [0, 1) with 24 random bits: every value is exactly representable as a float. */
float rng_uniform(Rng *rng);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint32_t rng_below(Rng *rng, uint32_t n);
/* Standard normal N(0, 1) by the Box-Muller transform (one of its pair is used, the other dropped
 * so that the generator carries no hidden cached value). */
double rng_normal(Rng *rng);

/* FNV-1a hash of a string: turns a word into a stream number, so the same word gets the same
 * random embedding wherever it appears. */
uint64_t rng_hash_string(const char *s);

#endif
