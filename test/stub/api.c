/*-------------------------------------------------------------------------
 *
 * api.c
 *		The provisioning API itself: bearer-token checks, routing of /v2/
 *		paths, and the list / create / get / update / delete handlers.
 *
 * Handlers read the generation once per request, take the store lock for
 * exactly the time they touch keys, and leave their answer in an RkReply
 * (key objects as JSON text written by shapes.c, errors as json-c trees);
 * they never sleep and never see faults, which http.c and faults.c apply
 * around them.  Nothing here outlives a request.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rkstub.h"

#define OWNER_USER		0x1
#define OWNER_SERVICE	0x2

/* List filters decoded from the query string. */
typedef struct ListFilter
{
	int			limit;
	const char *starting_after;
	const char *ending_before;
	bool		has_status;
	RkKeyStatus status;
	const char *search;
	const char *project_id;
	unsigned	owner_mask;		/* 0: any */
	unsigned	perm_mask;		/* 0: any; bit per RkPermMode */
} ListFilter;

/* Log spelling of an auth classification. */
const char *
rk_auth_name(RkAuth auth)
{
	switch (auth)
	{
		case RK_AUTH_VALID:
			return "valid";
		case RK_AUTH_MISSING:
			return "missing";
		case RK_AUTH_INVALID:
			return "invalid";
		case RK_AUTH_DISABLED:
			return "disabled";
		case RK_AUTH_REVOKED:
			return "revoked";
		case RK_AUTH_ROUTER_KEY:
			return "router_key";
	}
	return "invalid";
}

/*
 * Is token a live router key's own token?  Such a token is real but may
 * not call the provisioning API.
 */
static bool
is_router_token(const char *token, size_t len)
{
	char		id[RK_ID_LEN + 1];
	RkKey	   *key;
	bool		found;

	if (len != RK_TOKEN_LEN || strncmp(token, "sk-orq-", 7) != 0 ||
		token[7 + RK_ID_LEN] != '-')
		return false;
	memcpy(id, token + 7, RK_ID_LEN);
	id[RK_ID_LEN] = '\0';
	rk_store_rdlock();
	key = rk_store_find(id);
	found = key != NULL && rk_token_matches(key, token, len);
	rk_store_unlock();
	return found;
}

/* Classify the Authorization header of a request. */
RkAuth
rk_api_classify(const char *authorization)
{
	const char *token;
	size_t		len;
	RkAuth		auth;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return RK_AUTH_MISSING;
	token = authorization + 7;
	while (*token == ' ')
		token++;
	len = strlen(token);
	while (len > 0 && token[len - 1] == ' ')
		len--;
	if (len == 0)
		return RK_AUTH_MISSING;
	auth = rk_config_lookup_key(token, len);
	if (auth == RK_AUTH_INVALID && is_router_token(token, len))
		auth = RK_AUTH_ROUTER_KEY;
	return auth;
}

/* Answer the auth failure for auth; returns false when auth is valid. */
static bool
reject_auth(RkAuth auth, RkReply *reply)
{
	switch (auth)
	{
		case RK_AUTH_VALID:
			return false;
		case RK_AUTH_MISSING:
			rk_reply_error(reply, 401, NULL,
						   "missing API key: send \"Authorization: Bearer <provisioning key>\"");
			break;
		case RK_AUTH_INVALID:
			rk_reply_error(reply, 401, NULL, "invalid API key");
			break;
		case RK_AUTH_DISABLED:
			rk_reply_error(reply, 401, NULL, "API key is disabled");
			break;
		case RK_AUTH_REVOKED:
			rk_reply_error(reply, 403, NULL, "API key has been revoked");
			break;
		case RK_AUTH_ROUTER_KEY:
			rk_reply_error(reply, 403, NULL,
						   "router API keys cannot use the provisioning API");
			break;
	}
	return true;
}

/* Parse a strictly decimal limit in 1..RK_LIST_MAX. */
static bool
parse_limit(const char *s, int *out)
{
	long		v = 0;

	if (*s == '\0' || strlen(s) > 6)
		return false;
	for (const char *p = s; *p; p++)
	{
		if (!isdigit((unsigned char) *p))
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > RK_LIST_MAX)
		return false;
	*out = (int) v;
	return true;
}

/* Add every owner_type value of the query to f->owner_mask. */
static bool
parse_owner_types(const RkQuery *q, ListFilter *f)
{
	for (int i = 0; i < q->nparams; i++)
	{
		const char *v = q->params[i].value;

		if (strcmp(q->params[i].name, "owner_type") != 0 || v[0] == '\0' ||
			strcmp(v, "OWNER_TYPE_UNSPECIFIED") == 0)
			continue;
		if (strcmp(v, "OWNER_TYPE_USER") == 0)
			f->owner_mask |= OWNER_USER;
		else if (strcmp(v, "OWNER_TYPE_SERVICE_ACCOUNT") == 0)
			f->owner_mask |= OWNER_SERVICE;
		else
			return false;
	}
	return true;
}

/* Add every permission_mode value of the query to f->perm_mask. */
static bool
parse_perm_modes(const RkQuery *q, ListFilter *f)
{
	for (int i = 0; i < q->nparams; i++)
	{
		RkPermMode	perm;
		bool		unspecified;

		if (strcmp(q->params[i].name, "permission_mode") != 0 ||
			q->params[i].value[0] == '\0')
			continue;
		if (!rk_perm_parse(q->params[i].value, &unspecified, &perm))
			return false;
		if (!unspecified)
			f->perm_mask |= 1u << perm;
	}
	return true;
}

/* An optional query parameter, with an empty value treated as absent. */
static const char *
nonempty_param(const RkQuery *q, const char *name)
{
	const char *v = rk_query_get(q, name);

	return (v && v[0]) ? v : NULL;
}

/*
 * Decode the list query into f.  Returns 0, or the status of the error it
 * answered (400, or 403 for source=workspace).
 */
static int
parse_list_query(const RkQuery *q, ListFilter *f, RkReply *reply)
{
	const char *source = nonempty_param(q, "source");
	const char *limit = rk_query_get(q, "limit");
	const char *status = nonempty_param(q, "status");

	memset(f, 0, sizeof(*f));
	f->limit = RK_LIST_DEFAULT;
	if (source && strcmp(source, "workspace") == 0)
	{
		rk_reply_error(reply, 403, NULL,
					   "a provisioning key cannot list workspace API keys");
		return 403;
	}
	if (source && strcmp(source, "router") != 0)
	{
		rk_reply_error(reply, 400, NULL, "source must be \"router\" or \"workspace\"");
		return 400;
	}
	if (limit && !parse_limit(limit, &f->limit))
	{
		rk_reply_error(reply, 400, NULL, "limit must be between 1 and %d", RK_LIST_MAX);
		return 400;
	}
	f->starting_after = nonempty_param(q, "starting_after");
	f->ending_before = nonempty_param(q, "ending_before");
	if (f->starting_after && f->ending_before)
	{
		rk_reply_error(reply, 400, NULL,
					   "starting_after and ending_before cannot be used together");
		return 400;
	}
	if (status)
	{
		if (!rk_status_parse(status, &f->status))
		{
			rk_reply_error(reply, 400, NULL,
						   "status must be one of API_KEY_STATUS_ACTIVE, "
						   "API_KEY_STATUS_DISABLED, API_KEY_STATUS_REVOKED");
			return 400;
		}
		f->has_status = true;
	}
	if (!parse_owner_types(q, f))
	{
		rk_reply_error(reply, 400, NULL,
					   "owner_type must be OWNER_TYPE_USER or OWNER_TYPE_SERVICE_ACCOUNT");
		return 400;
	}
	if (!parse_perm_modes(q, f))
	{
		rk_reply_error(reply, 400, NULL,
					   "permission_mode must be one of PERMISSION_MODE_ALL, "
					   "PERMISSION_MODE_READ_ONLY, PERMISSION_MODE_RESTRICTED");
		return 400;
	}
	f->search = nonempty_param(q, "search");
	f->project_id = nonempty_param(q, "project_id");
	return 0;
}

/* Case-insensitive (ASCII) substring test. */
static bool
contains_nocase(const char *haystack, const char *needle)
{
	size_t		nlen = strlen(needle);

	for (const char *h = haystack; *h; h++)
	{
		if (strncasecmp(h, needle, nlen) == 0)
			return true;
	}
	return nlen == 0;
}

/* Does key pass every filter of f? */
static bool
key_matches(const RkKey *key, const ListFilter *f)
{
	if (f->has_status && key->status != f->status)
		return false;
	if (f->owner_mask &&
		!(f->owner_mask & (key->owner_user_id ? OWNER_USER : OWNER_SERVICE)))
		return false;
	if (f->perm_mask && !(f->perm_mask & (1u << key->perm)))
		return false;
	if (f->project_id &&
		(key->project_id == NULL || strcmp(key->project_id, f->project_id) != 0))
		return false;
	if (f->search && !contains_nocase(key->name, f->search))
		return false;
	return true;
}

/*
 * Collect one page of keys, newest first, into page (an array of at least
 * f->limit pointers).  Returns the page length; *has_more tells whether
 * more matching keys lie beyond the page in the direction of travel.
 * Caller holds the store lock.
 */
static int
collect_page(const ListFilter *f, const RkKey **page, bool *has_more)
{
	size_t		n;
	RkKey	   *const *keys = rk_store_keys(&n);
	int			count = 0;

	*has_more = false;
	if (f->ending_before)
	{
		/* the keys just newer than the cursor, closest first */
		for (size_t i = rk_store_upper_bound(f->ending_before); i < n; i++)
		{
			if (!key_matches(keys[i], f))
				continue;
			if (count == f->limit)
			{
				*has_more = true;
				break;
			}
			page[count++] = keys[i];
		}
		for (int i = 0; i < count / 2; i++)
		{
			const RkKey *t = page[i];

			page[i] = page[count - 1 - i];
			page[count - 1 - i] = t;
		}
		return count;
	}
	for (size_t i = f->starting_after ? rk_store_lower_bound(f->starting_after) : n;
		 i > 0; i--)
	{
		if (!key_matches(keys[i - 1], f))
			continue;
		if (count == f->limit)
		{
			*has_more = true;
			break;
		}
		page[count++] = keys[i - 1];
	}
	return count;
}

/* GET /v2/api-keys */
static void
handle_list(RkRequest *req, RkGeneration gen, RkReply *reply)
{
	RkQuery		q;
	ListFilter	f;
	const RkKey **page;
	RkBuf		buf;
	bool		has_more;
	int			count;

	rk_query_parse(req->query, &q);
	if (parse_list_query(&q, &f, reply) != 0)
	{
		rk_query_free(&q);
		return;
	}
	page = rk_xmalloc(sizeof(RkKey *) * f.limit);
	rk_buf_init(&buf, 64 + 600 * (size_t) f.limit);
	rk_buf_puts(&buf, gen == RK_GEN_LEGACY ? "{\"object\":\"list\",\"data\":[" : "[");
	rk_store_rdlock();
	count = collect_page(&f, page, &has_more);
	for (int i = 0; i < count; i++)
	{
		if (i > 0)
			rk_buf_puts(&buf, ",");
		rk_shape_key(&buf, page[i], gen, NULL);
	}
	rk_store_unlock();
	free(page);
	rk_query_free(&q);
	if (gen == RK_GEN_LEGACY)
		rk_buf_puts(&buf, has_more ? "],\"has_more\":true}" : "],\"has_more\":false}");
	else
		rk_buf_puts(&buf, "]");
	rk_reply_text(reply, 200, &buf);
}

/*
 * Parse the request body as JSON, answering 400 (or 413) when it cannot
 * be.  Returns NULL after answering.
 */
static json_object *
request_json(RkRequest *req, RkReply *reply)
{
	json_object *body;

	if (req->body_too_large)
	{
		rk_reply_error(reply, 413, NULL, "request body is too large");
		return NULL;
	}
	if (req->body_len == 0)
	{
		rk_reply_error(reply, 400, NULL, "request body is required");
		return NULL;
	}
	body = rk_json_parse(req->body, req->body_len);
	if (body == NULL)
		rk_reply_error(reply, 400, NULL, "request body is not valid JSON");
	return body;
}

/*
 * Write the answer to get/update/create: the key object itself (current)
 * or {"api_key":{...}} (legacy), plus the top-level token after a legacy
 * create.  Caller holds the store lock.
 */
static void
reply_key(RkReply *reply, const RkKey *key, RkGeneration gen, const char *token)
{
	RkBuf		buf;

	rk_buf_init(&buf, 1024);
	if (gen == RK_GEN_LEGACY)
		rk_buf_puts(&buf, "{\"api_key\":");
	rk_shape_key(&buf, key, gen, token);
	if (gen == RK_GEN_LEGACY && token)
	{
		rk_buf_puts(&buf, ",\"token\":");
		rk_buf_json_string(&buf, token);
	}
	if (gen == RK_GEN_LEGACY)
		rk_buf_puts(&buf, "}");
	rk_reply_text(reply, 200, &buf);
}

/* POST /v2/api-keys */
static void
handle_create(RkRequest *req, RkGeneration gen, RkReply *reply)
{
	json_object *body = request_json(req, reply);
	RkKeySpec	spec;
	RkKey	   *key;
	char		token[RK_TOKEN_LEN + 1];
	char		err[512];
	int			rc;

	if (body == NULL)
		return;
	rc = rk_parse_create(body, &spec, err, sizeof(err));
	json_object_put(body);
	if (rc != 0)
	{
		rk_spec_free(&spec);
		rk_reply_error(reply, rc, NULL, "%s", err);
		return;
	}
	rk_store_wrlock();
	if (rk_config_unique_names() && rk_store_name_taken(spec.name, NULL))
	{
		rk_store_unlock();
		rk_reply_error(reply, 409, NULL, "an API key named \"%.200s\" already exists",
					   spec.name);
		rk_spec_free(&spec);
		return;
	}
	key = rk_store_insert(&spec, token);
	reply_key(reply, key, gen, token);
	rk_store_unlock();
}

/*
 * Answer 403 or 404 for an id that is not a router key.  Caller holds the
 * store lock.
 */
static void
reply_not_router_key(const char *id, RkReply *reply)
{
	if (rk_store_find_workspace(id))
		rk_reply_error(reply, 403, NULL,
					   "workspace API keys cannot be managed with a provisioning key");
	else
		rk_reply_error(reply, 404, id, "API key not found");
}

/* GET /v2/api-keys/{id} */
static void
handle_get(const char *id, RkGeneration gen, RkReply *reply)
{
	RkKey	   *key;

	rk_store_rdlock();
	key = rk_store_find(id);
	if (key)
		reply_key(reply, key, gen, NULL);
	else
		reply_not_router_key(id, reply);
	rk_store_unlock();
}

/*
 * Check an update against the key's current state: revoked keys keep
 * their status, and the resulting permission mode must fit the resulting
 * access map.  Returns 0 or 400 (message in err).
 */
static int
check_patch(const RkKey *key, const RkKeyPatch *patch, char *err, size_t errlen)
{
	RkPermMode	perm = patch->has_perm ? patch->perm : key->perm;
	bool		has_access = patch->has_access || key->perm == RK_PERM_RESTRICTED;
	int			naccess = patch->has_access ? patch->naccess : key->naccess;

	if (patch->has_status && key->status == RK_STATUS_REVOKED &&
		patch->status != RK_STATUS_REVOKED)
	{
		snprintf(err, errlen, "API key %s is revoked; its status cannot change",
				 key->id);
		return 400;
	}
	if (!patch->has_perm && !patch->has_access)
		return 0;
	if (patch->has_perm && patch->perm != RK_PERM_RESTRICTED && !patch->has_access)
		return 0;
	return rk_check_access_fits(perm, has_access, naccess, err, errlen);
}

/* Apply the permission and access parts of a checked update. */
static void
apply_permissions(RkKey *key, RkKeyPatch *patch)
{
	if (patch->has_perm)
		key->perm = patch->perm;
	if (patch->has_access && key->perm == RK_PERM_RESTRICTED)
	{
		rk_access_free(key->access, key->naccess);
		key->access = patch->access;
		key->naccess = patch->naccess;
		patch->access = NULL;
		patch->naccess = 0;
	}
	if (key->perm != RK_PERM_RESTRICTED)
	{
		rk_access_free(key->access, key->naccess);
		key->access = NULL;
		key->naccess = 0;
	}
}

/*
 * Apply a checked update to key, taking what it needs from patch.  Caller
 * holds the write lock.
 */
static void
apply_patch(RkKey *key, RkKeyPatch *patch)
{
	int64_t		now = rk_now_us();

	if (patch->has_name && strcmp(patch->name, key->name) != 0)
	{
		rk_store_rename(key, patch->name);
		patch->name = NULL;
	}
	if (patch->has_status)
		key->status = patch->status;
	apply_permissions(key, patch);
	if (patch->has_scope)
	{
		free(key->project_id);
		key->project_id = patch->project_id;
		patch->project_id = NULL;
	}
	if (patch->clear_expires)
		key->expires_us = 0;
	if (patch->has_expires)
		key->expires_us = patch->expires_us;
	if (patch->has_mcp)
	{
		free(key->mcp_access);
		key->mcp_access = patch->mcp_access;
		patch->mcp_access = NULL;
	}
	key->updated_us = now > key->updated_us ? now : key->updated_us + 1;
}

/*
 * The checks of an update that need the key, then the update itself.
 * Caller holds the write lock.
 */
static void
patch_locked(const char *id, RkKeyPatch *patch, RkGeneration gen, RkReply *reply)
{
	RkKey	   *key = rk_store_find(id);
	char		err[512];
	int			rc;

	if (key == NULL)
	{
		reply_not_router_key(id, reply);
		return;
	}
	if ((rc = check_patch(key, patch, err, sizeof(err))) != 0)
	{
		rk_reply_error(reply, rc, NULL, "%s", err);
		return;
	}
	if (patch->has_name && rk_config_unique_names() && rk_store_name_taken(patch->name, key))
	{
		rk_reply_error(reply, 409, NULL, "an API key named \"%.200s\" already exists",
					   patch->name);
		return;
	}
	apply_patch(key, patch);
	reply_key(reply, key, gen, NULL);
}

/* PATCH /v2/api-keys/{id} */
static void
handle_patch(RkRequest *req, const char *id, RkGeneration gen, RkReply *reply)
{
	json_object *body = request_json(req, reply);
	RkKeyPatch	patch;
	char		err[512];
	int			rc;

	if (body == NULL)
		return;
	rc = rk_parse_patch(body, &patch, err, sizeof(err));
	json_object_put(body);
	if (rc != 0)
		rk_reply_error(reply, rc, NULL, "%s", err);
	else
	{
		rk_store_wrlock();
		patch_locked(id, &patch, gen, reply);
		rk_store_unlock();
	}
	rk_patch_free(&patch);
}

/* DELETE /v2/api-keys/{id} */
static void
handle_delete(const char *id, RkGeneration gen, RkReply *reply)
{
	rk_store_wrlock();
	if (rk_store_delete(id))
	{
		if (gen == RK_GEN_LEGACY)
			rk_reply_json(reply, 200, json_object_new_object());
		else
			rk_reply_json(reply, 204, NULL);
	}
	else
		reply_not_router_key(id, reply);
	rk_store_unlock();
}

/* Answer 405 with an Allow header. */
static void
reply_bad_method(RkRequest *req, const char *allow, RkReply *reply)
{
	rk_reply_error(reply, 405, NULL, "method %s is not allowed on %s (allowed: %s)",
				   req->method, req->path, allow);
	rk_reply_header(reply, "Allow", allow);
}

/* Route /v2/api-keys/{id}; rest is what follows the last slash. */
static void
route_item(RkRequest *req, const char *rest, RkGeneration gen, RkReply *reply)
{
	char	   *id = rk_percent_decode(rest, strlen(rest), false);

	if (strcmp(req->method, "GET") == 0)
		handle_get(id, gen, reply);
	else if (strcmp(req->method, "PATCH") == 0)
		handle_patch(req, id, gen, reply);
	else if (strcmp(req->method, "DELETE") == 0)
		handle_delete(id, gen, reply);
	else
		reply_bad_method(req, "GET, PATCH, DELETE", reply);
	free(id);
}

/* Route an authenticated request for a path under /v2/. */
static void
route_v2(RkRequest *req, RkGeneration gen, RkReply *reply)
{
	const char *path = req->path;
	const char *rest;

	if (strcmp(path, "/v2/api-keys") == 0)
	{
		if (strcmp(req->method, "GET") == 0)
			handle_list(req, gen, reply);
		else if (strcmp(req->method, "POST") == 0)
			handle_create(req, gen, reply);
		else
			reply_bad_method(req, "GET, POST", reply);
		return;
	}
	if (strcmp(path, "/v2/api-keys/capabilities") == 0)
	{
		if (strcmp(req->method, "GET") == 0)
			rk_reply_json(reply, 200, rk_shape_capabilities(gen));
		else
			reply_bad_method(req, "GET", reply);
		return;
	}
	if (strncmp(path, "/v2/api-keys/", 13) == 0)
	{
		rest = path + 13;
		if (rest[0] != '\0' && strchr(rest, '/') == NULL)
			route_item(req, rest, gen, reply);
		else
			rk_reply_error(reply, 404, NULL, "no route for %s %s", req->method, path);
		return;
	}
	rk_reply_error(reply, 403, NULL,
				   "a provisioning key may only manage router API keys; "
				   "%s %s is not allowed", req->method, path);
}

/*
 * Serve one non-admin request (faults aside): 404 outside /v2/, the auth
 * checks, then the API.  auth is the request's classification.
 */
void
rk_api_handle(RkRequest *req, RkAuth auth, RkReply *reply)
{
	if (strncmp(req->path, "/v2/", 4) != 0)
	{
		rk_reply_error(reply, 404, NULL, "no route for %s %s", req->method, req->path);
		return;
	}
	if (reject_auth(auth, reply))
		return;
	route_v2(req, rk_config_generation(), reply);
}
