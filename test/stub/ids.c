/*-------------------------------------------------------------------------
 *
 * ids.c
 *		Identifiers and secrets: monotonic ULIDs for key ids, and the raw
 *		tokens ("sk-orq-<id>-<secret>") handed out once on create.
 *
 * The ULID generator keeps its last timestamp and random part in static
 * state; callers hold the store's write lock, which serializes it, so ids
 * strictly increase across the whole process and appending a new key keeps
 * the store sorted.  The random source is xoshiro256** seeded from
 * getrandom(2) and has its own mutex.  It allocates nothing.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "rkstub.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char alnum[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_state[4];

/* ULID state: last millisecond used and the 80-bit random part. */
static uint64_t ulid_ms = 0;
static uint32_t ulid_hi = 0;	/* top 16 bits */
static uint64_t ulid_lo = 0;	/* low 64 bits */

/* Rotate x left by k bits. */
static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Seed the random generator from the kernel. */
void
rk_random_init(void)
{
	size_t		got = 0;

	while (got < sizeof(rng_state))
	{
		ssize_t		n = getrandom((char *) rng_state + got,
								  sizeof(rng_state) - got, 0);

		if (n > 0)
			got += (size_t) n;
	}
	if ((rng_state[0] | rng_state[1] | rng_state[2] | rng_state[3]) == 0)
		rng_state[0] = 0x9E3779B97F4A7C15ULL;
}

/* Next 64 random bits (xoshiro256**). */
uint64_t
rk_random_u64(void)
{
	uint64_t	result;
	uint64_t	t;

	pthread_mutex_lock(&rng_lock);
	result = rotl(rng_state[1] * 5, 7) * 9;
	t = rng_state[1] << 17;
	rng_state[2] ^= rng_state[0];
	rng_state[3] ^= rng_state[1];
	rng_state[1] ^= rng_state[2];
	rng_state[0] ^= rng_state[3];
	rng_state[2] ^= t;
	rng_state[3] = rotl(rng_state[3], 45);
	pthread_mutex_unlock(&rng_lock);
	return result;
}

/* Five bits of the 80-bit value hi:lo, starting at bit shift. */
static unsigned
random_bits(uint32_t hi, uint64_t lo, int shift)
{
	uint64_t	v;

	if (shift >= 64)
		v = (uint64_t) hi >> (shift - 64);
	else if (shift == 0)
		v = lo;
	else
		v = (lo >> shift) | ((uint64_t) hi << (64 - shift));
	return (unsigned) (v & 31);
}

/*
 * Write the next ULID (26 characters and a NUL) into out.  Within one
 * millisecond, or if the clock goes backwards, the random part is
 * incremented instead of redrawn, so ids are strictly increasing.
 * Caller holds the store's write lock.
 */
void
rk_ulid_next(int64_t now_us, char *out)
{
	uint64_t	ms = (uint64_t) (now_us / 1000);

	if (ms > ulid_ms)
	{
		ulid_ms = ms;
		ulid_hi = (uint32_t) (rk_random_u64() & 0x7FFF);
		ulid_lo = rk_random_u64();
	}
	else if (++ulid_lo == 0 && ++ulid_hi > 0xFFFF)
	{
		ulid_ms++;
		ulid_hi = 0;
	}
	for (int i = 0; i < 10; i++)
		out[i] = crockford[(ulid_ms >> (45 - 5 * i)) & 31];
	for (int i = 0; i < 16; i++)
		out[10 + i] = crockford[random_bits(ulid_hi, ulid_lo, 75 - 5 * i)];
	out[RK_ID_LEN] = '\0';
}

/*
 * Write a fresh raw token for key id into out (RK_TOKEN_LEN characters and
 * a NUL): "sk-orq-<id>-<32 random alphanumerics>".
 */
void
rk_token_make(const char *id, char *out)
{
	char	   *p = out;

	memcpy(p, "sk-orq-", 7);
	p += 7;
	memcpy(p, id, RK_ID_LEN);
	p += RK_ID_LEN;
	*p++ = '-';
	for (int i = 0; i < RK_SECRET_LEN; i += 8)
	{
		uint64_t	r = rk_random_u64();

		for (int j = 0; j < 8 && i + j < RK_SECRET_LEN; j++)
		{
			*p++ = alnum[(r & 0xFF) % (sizeof(alnum) - 1)];
			r >>= 8;
		}
	}
	*p = '\0';
}
