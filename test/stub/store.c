/*-------------------------------------------------------------------------
 *
 * store.c
 *		The in-memory key store: router keys in a vector sorted by id, a
 *		hash index of their names, and the fixed workspace keys.
 *
 * Ids are monotonic ULIDs (ids.c), so a new key is appended and the vector
 * stays sorted; lookups are binary searches, deletes a memmove.  The name
 * index (open addressing, linear probing, backward-shift deletion) makes
 * the duplicate-name rule O(1).  One pthread rwlock protects it all:
 * readers hold it while they look at keys, writers while they change them;
 * the functions here never take it themselves except rk_store_reset,
 * rk_store_seed and rk_store_seed_named.  The store owns every RkKey and
 * its strings until the key is deleted or the store reset.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rkstub.h"

static pthread_rwlock_t store_lock = PTHREAD_RWLOCK_INITIALIZER;

static RkKey **keys = NULL;		/* sorted by id, ascending */
static size_t nkeys = 0;
static size_t keys_cap = 0;

static RkKey **names = NULL;	/* hash index of keys by name */
static size_t names_cap = 0;	/* power of two, or 0 */
static size_t names_used = 0;

static RkKey workspace_keys[RK_WORKSPACE_KEYS];
static const char *const workspace_ids[RK_WORKSPACE_KEYS] = {
	"01H00000000000000000000WK1",
	"01H00000000000000000000WK2",
	"01H00000000000000000000WK3"
};

/* Take the store lock for reading. */
void
rk_store_rdlock(void)
{
	pthread_rwlock_rdlock(&store_lock);
}

/* Take the store lock for writing. */
void
rk_store_wrlock(void)
{
	pthread_rwlock_wrlock(&store_lock);
}

/* Release the store lock. */
void
rk_store_unlock(void)
{
	pthread_rwlock_unlock(&store_lock);
}

/* FNV-1a hash of a NUL-terminated string. */
static uint64_t
name_hash(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
	{
		h ^= (unsigned char) *s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Slot of name in the index, or of the empty slot where it would go. */
static size_t
name_slot(const char *name)
{
	size_t		mask = names_cap - 1;
	size_t		i = name_hash(name) & mask;

	while (names[i] != NULL && strcmp(names[i]->name, name) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Put key into the name index (its name is known to be absent). */
static void
name_insert_nogrow(RkKey *key)
{
	names[name_slot(key->name)] = key;
	names_used++;
}

/* Make room in the name index for `more` additional names. */
static void
names_reserve(size_t more)
{
	RkKey	  **old = names;
	size_t		old_cap = names_cap;
	size_t		cap = names_cap ? names_cap : 64;

	while ((names_used + more) * 2 > cap)
		cap *= 2;
	if (cap == names_cap)
		return;
	names = rk_xcalloc(cap, sizeof(RkKey *));
	names_cap = cap;
	names_used = 0;
	for (size_t i = 0; i < old_cap; i++)
	{
		if (old[i] != NULL)
			name_insert_nogrow(old[i]);
	}
	free(old);
}

/* Add key to the name index. */
static void
name_insert(RkKey *key)
{
	names_reserve(1);
	name_insert_nogrow(key);
}

/*
 * Remove key from the name index, shifting later entries of its probe run
 * back so that no tombstones are needed.
 */
static void
name_remove(const RkKey *key)
{
	size_t		mask = names_cap - 1;
	size_t		i;
	size_t		j;

	if (names_cap == 0)
		return;
	i = name_slot(key->name);
	if (names[i] != key)
		return;
	names[i] = NULL;
	names_used--;
	j = i;
	for (;;)
	{
		size_t		home;

		j = (j + 1) & mask;
		if (names[j] == NULL)
			break;
		home = name_hash(names[j]->name) & mask;
		/* move names[j] into the hole unless its home lies in (i, j] */
		if ((j > i && (home <= i || home > j)) ||
			(j < i && (home <= i && home > j)))
		{
			names[i] = names[j];
			names[j] = NULL;
			i = j;
		}
	}
}

/* Release everything a key owns, and the key. */
static void
key_free(RkKey *key)
{
	free(key->name);
	free(key->project_id);
	free(key->owner_user_id);
	rk_access_free(key->access, key->naccess);
	free(key->mcp_access);
	free(key->labels);
	free(key);
}

/* Free an access map. */
void
rk_access_free(RkAccess *access, int naccess)
{
	for (int i = 0; i < naccess; i++)
		free(access[i].domain);
	free(access);
}

/* Set up the three workspace keys, which exist from start and after reset. */
static void
workspace_init(void)
{
	int64_t		created = 1672531200000000LL;	/* 2023-01-01 */

	for (int i = 0; i < RK_WORKSPACE_KEYS; i++)
	{
		RkKey	   *k = &workspace_keys[i];
		char		token[RK_TOKEN_LEN + 1];

		memset(k, 0, sizeof(*k));
		strcpy(k->id, workspace_ids[i]);
		rk_token_make(k->id, token);
		memcpy(k->token_prefix, token, RK_PREFIX_LEN);
		rk_sha256(token, RK_TOKEN_LEN, k->token_hash);
		k->status = RK_STATUS_ACTIVE;
		k->perm = RK_PERM_ALL;
		k->created_us = created + i * 1000000LL;
		k->updated_us = k->created_us;
		k->workspace = true;
	}
}

/* Prepare an empty store. */
void
rk_store_init(void)
{
	workspace_init();
}

/* Drop every router key and the name index; caller holds the write lock. */
static void
clear_locked(void)
{
	for (size_t i = 0; i < nkeys; i++)
		key_free(keys[i]);
	free(keys);
	free(names);
	keys = NULL;
	names = NULL;
	nkeys = keys_cap = names_cap = names_used = 0;
}

/* Back to the start-up state: no router keys, the workspace keys reseeded. */
void
rk_store_reset(void)
{
	rk_store_wrlock();
	clear_locked();
	workspace_init();
	rk_store_unlock();
}

/* Free everything at exit. */
void
rk_store_free(void)
{
	rk_store_wrlock();
	clear_locked();
	rk_store_unlock();
}

/*
 * Binary search: index of the first key whose id is > id (upper) or >= id
 * (not upper).  Caller holds the lock.
 */
static size_t
bound(const char *id, bool upper)
{
	size_t		lo = 0;
	size_t		hi = nkeys;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			cmp = strcmp(keys[mid]->id, id);

		if (cmp < 0 || (upper && cmp == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first key whose id is >= id.  Caller holds the lock. */
size_t
rk_store_lower_bound(const char *id)
{
	return bound(id, false);
}

/* Index of the first key whose id is > id.  Caller holds the lock. */
size_t
rk_store_upper_bound(const char *id)
{
	return bound(id, true);
}

/* The router key with this id, or NULL.  Caller holds the lock. */
RkKey *
rk_store_find(const char *id)
{
	size_t		i = rk_store_lower_bound(id);

	if (i < nkeys && strcmp(keys[i]->id, id) == 0)
		return keys[i];
	return NULL;
}

/* The workspace key with this id, or NULL.  Caller holds the lock. */
const RkKey *
rk_store_find_workspace(const char *id)
{
	for (int i = 0; i < RK_WORKSPACE_KEYS; i++)
	{
		if (strcmp(workspace_keys[i].id, id) == 0)
			return &workspace_keys[i];
	}
	return NULL;
}

/* The ids of the workspace keys (static strings). */
void
rk_store_workspace_ids(const char **ids)
{
	for (int i = 0; i < RK_WORKSPACE_KEYS; i++)
		ids[i] = workspace_ids[i];
}

/* The sorted key vector and its length.  Caller holds the lock. */
RkKey *const *
rk_store_keys(size_t *n)
{
	*n = nkeys;
	return keys;
}

/*
 * Is name used by a router key other than except?  Caller holds the lock.
 */
bool
rk_store_name_taken(const char *name, const RkKey *except)
{
	RkKey	   *k;

	if (names_cap == 0)
		return false;
	k = names[name_slot(name)];
	return k != NULL && k != except;
}

/* Grow the key vector to hold `more` additional keys. */
static void
keys_reserve(size_t more)
{
	if (nkeys + more <= keys_cap)
		return;
	keys_cap = keys_cap ? keys_cap : 256;
	while (nkeys + more > keys_cap)
		keys_cap *= 2;
	keys = rk_xrealloc(keys, keys_cap * sizeof(RkKey *));
}

/*
 * Make a new key from spec, append it and index its name.  The key takes
 * ownership of the spec's pointers (which are cleared).  The raw token is
 * written to token_out (RK_TOKEN_LEN + 1 bytes) when it is not NULL, and
 * kept nowhere.  Caller holds the write lock and has checked the name.
 */
RkKey *
rk_store_insert(RkKeySpec *spec, char *token_out)
{
	RkKey	   *k = rk_xcalloc(1, sizeof(RkKey));
	char		token[RK_TOKEN_LEN + 1];
	int64_t		now = rk_now_us();

	rk_ulid_next(now, k->id);
	rk_token_make(k->id, token);
	memcpy(k->token_prefix, token, RK_PREFIX_LEN);
	rk_sha256(token, RK_TOKEN_LEN, k->token_hash);
	if (token_out)
		memcpy(token_out, token, RK_TOKEN_LEN + 1);
	k->name = spec->name;
	k->project_id = spec->project_id;
	k->owner_user_id = spec->owner_user_id;
	k->perm = spec->perm;
	k->access = spec->access;
	k->naccess = spec->naccess;
	k->mcp_access = spec->mcp_access;
	k->labels = spec->labels;
	k->expires_us = spec->expires_us;
	k->status = spec->status;
	k->created_us = now;
	k->updated_us = now;
	memset(spec, 0, sizeof(*spec));
	keys_reserve(1);
	keys[nkeys++] = k;
	name_insert(k);
	return k;
}

/* Delete the router key with this id.  Caller holds the write lock. */
bool
rk_store_delete(const char *id)
{
	size_t		i = rk_store_lower_bound(id);
	RkKey	   *k;

	if (i >= nkeys || strcmp(keys[i]->id, id) != 0)
		return false;
	k = keys[i];
	name_remove(k);
	memmove(&keys[i], &keys[i + 1], (nkeys - i - 1) * sizeof(RkKey *));
	nkeys--;
	key_free(k);
	return true;
}

/*
 * Give key a new name (taking ownership of it) and re-index it.  Caller
 * holds the write lock and has checked that the name is free.
 */
void
rk_store_rename(RkKey *key, char *name)
{
	name_remove(key);
	free(key->name);
	key->name = name;
	name_insert(key);
}

/*
 * Create count keys named prefix + zero-padded sequence (skipping names
 * already taken), all with the given status and project.  The first and
 * last new ids go to first_id/last_id ("" when count is 0).  Returns the
 * number created.  Takes the write lock itself.
 */
int
rk_store_seed(int count, const char *prefix, RkKeyStatus status,
			  const char *project_id, char *first_id, char *last_id)
{
	int			width = 6;
	long		seq = 0;
	size_t		plen = strlen(prefix);

	for (int c = count; c >= 1000000; c /= 10)
		width++;
	first_id[0] = last_id[0] = '\0';
	rk_store_wrlock();
	keys_reserve((size_t) count);
	names_reserve((size_t) count);
	for (int i = 0; i < count; i++)
	{
		RkKeySpec	spec;
		RkKey	   *k;
		char	   *name = rk_xmalloc(plen + 24);

		do
			snprintf(name, plen + 24, "%s%0*ld", prefix, width, ++seq);
		while (rk_store_name_taken(name, NULL));
		memset(&spec, 0, sizeof(spec));
		spec.name = name;
		spec.project_id = rk_xstrdup(project_id);
		spec.perm = RK_PERM_ALL;
		spec.status = status;
		k = rk_store_insert(&spec, NULL);
		if (i == 0)
			strcpy(first_id, k->id);
		strcpy(last_id, k->id);
	}
	rk_store_unlock();
	return count;
}

/*
 * Create one key named exactly name (copied), with the given status and
 * project, as another client of the service would have made it.  Its id
 * goes to id_out.  Returns false, creating nothing, when the name is
 * taken.  Takes the write lock itself.
 */
bool
rk_store_seed_named(const char *name, RkKeyStatus status,
					const char *project_id, char *id_out)
{
	RkKeySpec	spec;
	RkKey	   *k;

	id_out[0] = '\0';
	rk_store_wrlock();
	if (rk_config_unique_names() && rk_store_name_taken(name, NULL))
	{
		rk_store_unlock();
		return false;
	}
	memset(&spec, 0, sizeof(spec));
	spec.name = rk_xstrdup(name);
	spec.project_id = rk_xstrdup(project_id);
	spec.perm = RK_PERM_ALL;
	spec.status = status;
	k = rk_store_insert(&spec, NULL);
	strcpy(id_out, k->id);
	rk_store_unlock();
	return true;
}

/* Does token hash to this key's stored hash? */
bool
rk_token_matches(const RkKey *key, const char *token, size_t len)
{
	unsigned char digest[32];

	rk_sha256(token, len, digest);
	return memcmp(digest, key->token_hash, sizeof(digest)) == 0;
}
