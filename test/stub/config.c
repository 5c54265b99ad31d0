/*-------------------------------------------------------------------------
 *
 * config.c
 *		Run-time settings (response generation, per-request latency, whether
 *		key names must be unique) with
 *		their start-up values, and the provisioning keys the stub accepts.
 *
 * The settings change at run time through /__admin/config and go back to
 * their start-up values on /__admin/reset; a mutex guards them.  The
 * provisioning-key table is filled before the server starts and only read
 * afterwards, so it needs no lock.  Tokens are copied and freed at exit.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rkstub.h"

typedef struct ProvisioningKey
{
	char	   *token;
	RkAuth		state;			/* VALID, DISABLED or REVOKED */
} ProvisioningKey;

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static RkGeneration cur_generation = RK_GEN_CURRENT;
static int	cur_latency_ms = 0;
static RkGeneration start_generation = RK_GEN_CURRENT;
static int	start_latency_ms = 0;
static bool cur_unique_names = true;

static ProvisioningKey *prov_keys = NULL;
static int	nprov_keys = 0;

/* Record the start-up settings and make them current. */
void
rk_config_init(RkGeneration generation, int latency_ms)
{
	pthread_mutex_lock(&config_lock);
	start_generation = cur_generation = generation;
	start_latency_ms = cur_latency_ms = latency_ms;
	pthread_mutex_unlock(&config_lock);
}

/* The generation responses are currently shaped for. */
RkGeneration
rk_config_generation(void)
{
	RkGeneration g;

	pthread_mutex_lock(&config_lock);
	g = cur_generation;
	pthread_mutex_unlock(&config_lock);
	return g;
}

/* The current per-request latency in milliseconds. */
int
rk_config_latency_ms(void)
{
	int			ms;

	pthread_mutex_lock(&config_lock);
	ms = cur_latency_ms;
	pthread_mutex_unlock(&config_lock);
	return ms;
}

/*
 * Whether a create or a rename to a name another key has gets 409 (the
 * default, as the vendor's UI keeps names unique), or is allowed (the API
 * is not documented to refuse duplicates).
 */
bool
rk_config_unique_names(void)
{
	bool		unique;

	pthread_mutex_lock(&config_lock);
	unique = cur_unique_names;
	pthread_mutex_unlock(&config_lock);
	return unique;
}

/* Change whether names must be unique. */
void
rk_config_set_unique_names(bool unique)
{
	pthread_mutex_lock(&config_lock);
	cur_unique_names = unique;
	pthread_mutex_unlock(&config_lock);
}

/* Switch the response generation. */
void
rk_config_set_generation(RkGeneration generation)
{
	pthread_mutex_lock(&config_lock);
	cur_generation = generation;
	pthread_mutex_unlock(&config_lock);
}

/* Change the per-request latency. */
void
rk_config_set_latency_ms(int latency_ms)
{
	pthread_mutex_lock(&config_lock);
	cur_latency_ms = latency_ms;
	pthread_mutex_unlock(&config_lock);
}

/* Go back to the start-up settings. */
void
rk_config_restore(void)
{
	pthread_mutex_lock(&config_lock);
	cur_generation = start_generation;
	cur_latency_ms = start_latency_ms;
	cur_unique_names = true;
	pthread_mutex_unlock(&config_lock);
}

/* Accept token as a provisioning key in the given state (before start). */
void
rk_config_add_key(RkAuth state, const char *token)
{
	prov_keys = rk_xrealloc(prov_keys, sizeof(ProvisioningKey) * (nprov_keys + 1));
	prov_keys[nprov_keys].token = rk_xstrdup(token);
	prov_keys[nprov_keys].state = state;
	nprov_keys++;
}

/* Were any provisioning keys configured? */
bool
rk_config_has_keys(void)
{
	return nprov_keys > 0;
}

/* Forget the provisioning keys (at exit). */
void
rk_config_free(void)
{
	for (int i = 0; i < nprov_keys; i++)
		free(prov_keys[i].token);
	free(prov_keys);
	prov_keys = NULL;
	nprov_keys = 0;
}

/*
 * The state of the provisioning key equal to the len bytes of token, or
 * RK_AUTH_INVALID when there is none.
 */
RkAuth
rk_config_lookup_key(const char *token, size_t len)
{
	for (int i = 0; i < nprov_keys; i++)
	{
		if (strlen(prov_keys[i].token) == len &&
			memcmp(prov_keys[i].token, token, len) == 0)
			return prov_keys[i].state;
	}
	return RK_AUTH_INVALID;
}

/* "current" or "legacy". */
const char *
rk_generation_name(RkGeneration generation)
{
	return generation == RK_GEN_LEGACY ? "legacy" : "current";
}

/* Parse "current" or "legacy". */
bool
rk_generation_parse(const char *s, RkGeneration *out)
{
	if (strcmp(s, "current") == 0)
		*out = RK_GEN_CURRENT;
	else if (strcmp(s, "legacy") == 0)
		*out = RK_GEN_LEGACY;
	else
		return false;
	return true;
}
