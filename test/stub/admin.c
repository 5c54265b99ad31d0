/*-------------------------------------------------------------------------
 *
 * admin.c
 *		The test-control API under /__admin: reset, seed, state, request
 *		log, run-time config, fault arming and down periods.
 *
 * Admin requests need no token and are never logged, faulted or delayed
 * (http.c routes them here before any of that).  Every answer is JSON;
 * errors are {"error":"..."}.  This file owns no state of its own: it
 * calls into store.c, log.c, faults.c and config.c, and a down period is
 * only asked for in the reply, for http.c to carry out once it is sent.
 *
 * POST /__admin/down {"seconds":N} (1..600) makes the stub a service that
 * is down: once the answer is sent, every connection and the listening
 * socket are closed, so connecting is refused, and N seconds later the
 * stub listens again on the same address and port with all its state.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rkstub.h"

#define MAX_SEED		1000000
#define MAX_PREFIX		100
#define MAX_LATENCY_MS	600000
#define MAX_DOWN_SECONDS	600

/* Answer an admin error: {"error":message}. */
static void
admin_error(RkReply *reply, int status, const char *message)
{
	rk_reply_error_form(reply, status, RK_FORM_PLAIN, message, NULL);
}

/*
 * The request body as a JSON object; an empty body counts as {}.  Answers
 * 400 and returns NULL when it is not an object.
 */
static json_object *
admin_body(RkRequest *req, RkReply *reply)
{
	json_object *body;

	if (req->body_len == 0)
		return json_object_new_object();
	body = req->body_too_large ? NULL : rk_json_parse(req->body, req->body_len);
	if (!json_object_is_type(body, json_type_object))
	{
		json_object_put(body);
		admin_error(reply, 400, "request body must be a JSON object");
		return NULL;
	}
	return body;
}

/* {"ok":true} */
static json_object *
ok_object(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

/* POST /__admin/reset: everything back to how it was at start-up. */
static void
admin_reset(RkReply *reply)
{
	rk_store_reset();
	rk_log_clear(true);
	rk_faults_clear();
	rk_config_restore();
	rk_reply_json(reply, 200, ok_object());
}

/* Parse a seed status: active/disabled/revoked or an API_KEY_STATUS_*. */
static bool
parse_seed_status(json_object *v, RkKeyStatus *status)
{
	const char *s;

	if (v == NULL)
	{
		*status = RK_STATUS_ACTIVE;
		return true;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (strcmp(s, "active") == 0)
		*status = RK_STATUS_ACTIVE;
	else if (strcmp(s, "disabled") == 0)
		*status = RK_STATUS_DISABLED;
	else if (strcmp(s, "revoked") == 0)
		*status = RK_STATUS_REVOKED;
	else
		return rk_status_parse(s, status);
	return true;
}

/*
 * Check the "name" of a seed request: absent (*name NULL), or a key name
 * the API itself would accept (1..128 characters of valid UTF-8).  NULL
 * when valid, else a message.
 */
static const char *
check_seed_name(json_object *body, const char **name)
{
	json_object *v = rk_json_member(body, "name");
	const char *s;
	size_t		len;
	size_t		chars;
	bool		valid;

	*name = NULL;
	if (v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string))
		return "name must be a string";
	s = json_object_get_string(v);
	len = (size_t) json_object_get_string_len(v);
	chars = rk_utf8_chars(s, len, &valid);
	if (!valid || strlen(s) != len || chars < 1 || chars > RK_NAME_MAX_CHARS)
		return "name must be 1 to 128 characters of valid UTF-8 without NUL";
	if (rk_json_member(body, "name_prefix"))
		return "name and name_prefix exclude each other";
	*name = s;
	return NULL;
}

/*
 * Check the members of a seed request; NULL when valid, else a message.
 * With a name, count may be left out and must otherwise be 1.
 */
static const char *
check_seed(json_object *body, int64_t *count, const char **prefix,
		   const char **name, RkKeyStatus *status, const char **project_id)
{
	json_object *v;
	const char *problem = check_seed_name(body, name);

	if (problem)
		return problem;
	v = rk_json_member(body, "count");
	if (v == NULL && *name)
		*count = 1;
	else if (v == NULL || !rk_json_int(v, count) || *count < 0 || *count > MAX_SEED)
		return "count must be an integer between 0 and 1000000";
	if (*name && *count != 1)
		return "name requires count 1";
	v = rk_json_member(body, "name_prefix");
	if (v && (!json_object_is_type(v, json_type_string) ||
			  json_object_get_string_len(v) > MAX_PREFIX))
		return "name_prefix must be a string of at most 100 bytes";
	*prefix = v ? json_object_get_string(v) : "seed-";
	if (!parse_seed_status(rk_json_member(body, "status"), status))
		return "status must be \"active\", \"disabled\" or \"revoked\"";
	v = rk_json_member(body, "project_id");
	if (v && (!json_object_is_type(v, json_type_string) ||
			  json_object_get_string_len(v) == 0))
		return "project_id must be null or a non-empty string";
	*project_id = v ? json_object_get_string(v) : NULL;
	return NULL;
}

/*
 * POST /__admin/seed: create many keys at once, or one key with an exact
 * name (409 when that name is taken).
 */
static void
admin_seed(RkRequest *req, RkReply *reply)
{
	json_object *body = admin_body(req, reply);
	json_object *out;
	int64_t		count = 0;
	const char *prefix = NULL;
	const char *name = NULL;
	const char *project_id = NULL;
	const char *problem;
	RkKeyStatus status = RK_STATUS_ACTIVE;
	char		first[RK_ID_LEN + 1];
	char		last[RK_ID_LEN + 1];

	if (body == NULL)
		return;
	problem = check_seed(body, &count, &prefix, &name, &status, &project_id);
	if (problem)
	{
		admin_error(reply, 400, problem);
		json_object_put(body);
		return;
	}
	if (name == NULL)
		rk_store_seed((int) count, prefix, status, project_id, first, last);
	else if (rk_store_seed_named(name, status, project_id, first))
		strcpy(last, first);
	else
	{
		admin_error(reply, 409, "a key with that name exists already");
		json_object_put(body);
		return;
	}
	json_object_put(body);
	out = json_object_new_object();
	json_object_object_add(out, "created", json_object_new_int((int) count));
	json_object_object_add(out, "first_id", first[0] ? json_object_new_string(first) : NULL);
	json_object_object_add(out, "last_id", last[0] ? json_object_new_string(last) : NULL);
	rk_reply_json(reply, 200, out);
}

/* The current run-time settings as members of obj. */
static void
add_config(json_object *obj)
{
	json_object_object_add(obj, "generation",
						   json_object_new_string(rk_generation_name(rk_config_generation())));
	json_object_object_add(obj, "latency_ms", json_object_new_int(rk_config_latency_ms()));
	json_object_object_add(obj, "unique_names", json_object_new_boolean(rk_config_unique_names()));
}

/* GET /__admin/state */
static void
admin_state(RkReply *reply)
{
	json_object *out = json_object_new_object();
	json_object *ids = json_object_new_array();
	const char *ws[RK_WORKSPACE_KEYS];
	size_t		nkeys;

	rk_store_rdlock();
	rk_store_keys(&nkeys);
	rk_store_unlock();
	rk_store_workspace_ids(ws);
	for (int i = 0; i < RK_WORKSPACE_KEYS; i++)
		json_object_array_add(ids, json_object_new_string(ws[i]));
	json_object_object_add(out, "keys", json_object_new_int64((int64_t) nkeys));
	json_object_object_add(out, "workspace_keys", json_object_new_int(RK_WORKSPACE_KEYS));
	json_object_object_add(out, "workspace_key_ids", ids);
	json_object_object_add(out, "requests", json_object_new_int64(rk_log_requests()));
	json_object_object_add(out, "faults_armed", json_object_new_int(rk_faults_armed()));
	add_config(out);
	rk_reply_json(reply, 200, out);
}

/* GET /__admin/log[?since=SEQ] */
static void
admin_log(RkRequest *req, RkReply *reply)
{
	RkQuery		q;
	const char *since_s;
	long long	since = 0;
	char	   *end = NULL;

	rk_query_parse(req->query, &q);
	since_s = rk_query_get(&q, "since");
	if (since_s && since_s[0])
	{
		since = strtoll(since_s, &end, 10);
		if (*end != '\0' || since < 0)
		{
			rk_query_free(&q);
			admin_error(reply, 400, "since must be a non-negative integer");
			return;
		}
	}
	rk_query_free(&q);
	rk_reply_json(reply, 200, rk_log_since(since));
}

/* Apply the members of a config request; NULL when valid, else a message. */
static const char *
apply_config(json_object *body)
{
	json_object *gen = rk_json_member(body, "generation");
	json_object *latency = rk_json_member(body, "latency_ms");
	json_object *unique = rk_json_member(body, "unique_names");
	RkGeneration g = RK_GEN_CURRENT;
	int64_t		ms = 0;

	if (gen && (!json_object_is_type(gen, json_type_string) ||
				!rk_generation_parse(json_object_get_string(gen), &g)))
		return "generation must be \"current\" or \"legacy\"";
	if (latency && (!rk_json_int(latency, &ms) || ms < 0 || ms > MAX_LATENCY_MS))
		return "latency_ms must be an integer between 0 and 600000";
	if (unique && !json_object_is_type(unique, json_type_boolean))
		return "unique_names must be a boolean";
	if (unique)
		rk_config_set_unique_names(json_object_get_boolean(unique));
	if (gen)
		rk_config_set_generation(g);
	if (latency)
		rk_config_set_latency_ms((int) ms);
	return NULL;
}

/* GET or POST /__admin/config */
static void
admin_config(RkRequest *req, RkReply *reply)
{
	json_object *out;

	if (strcmp(req->method, "POST") == 0)
	{
		json_object *body = admin_body(req, reply);
		const char *problem;

		if (body == NULL)
			return;
		problem = apply_config(body);
		json_object_put(body);
		if (problem)
		{
			admin_error(reply, 400, problem);
			return;
		}
	}
	out = ok_object();
	add_config(out);
	rk_reply_json(reply, 200, out);
}

/* POST /__admin/faults: arm one fault. */
static void
admin_arm_fault(RkRequest *req, RkReply *reply)
{
	json_object *body = admin_body(req, reply);
	json_object *out;
	char		err[256];
	int			id;

	if (body == NULL)
		return;
	id = rk_faults_arm(body, err, sizeof(err));
	json_object_put(body);
	if (id < 0)
	{
		admin_error(reply, 400, err);
		return;
	}
	out = json_object_new_object();
	json_object_object_add(out, "id", json_object_new_int(id));
	rk_reply_json(reply, 200, out);
}

/* GET, POST or DELETE /__admin/faults */
static void
admin_faults(RkRequest *req, RkReply *reply)
{
	json_object *out;

	if (strcmp(req->method, "POST") == 0)
		admin_arm_fault(req, reply);
	else if (strcmp(req->method, "DELETE") == 0)
	{
		rk_faults_clear();
		rk_reply_json(reply, 200, ok_object());
	}
	else
	{
		out = json_object_new_object();
		json_object_object_add(out, "faults", rk_faults_describe());
		rk_reply_json(reply, 200, out);
	}
}

/*
 * POST /__admin/down: answer {"ok":true,"seconds":N} and be down for N
 * seconds once the answer is sent (http.c).  The answer closes its own
 * connection as well.
 */
static void
admin_down(RkRequest *req, RkReply *reply)
{
	json_object *body = admin_body(req, reply);
	json_object *out;
	int64_t		seconds = 0;
	bool		valid;

	if (body == NULL)
		return;
	valid = rk_json_int(rk_json_member(body, "seconds"), &seconds) &&
		seconds >= 1 && seconds <= MAX_DOWN_SECONDS;
	json_object_put(body);
	if (!valid)
	{
		admin_error(reply, 400, "seconds must be an integer between 1 and 600");
		return;
	}
	out = ok_object();
	json_object_object_add(out, "seconds", json_object_new_int((int) seconds));
	rk_reply_json(reply, 200, out);
	rk_reply_header(reply, "Connection", "close");
	reply->down_seconds = (int) seconds;
}

/* One admin route: path, the methods it takes, and its handler. */
typedef struct AdminRoute
{
	const char *path;
	const char *methods;		/* for the Allow header and the check */
	void		(*handler) (RkRequest *req, RkReply *reply);
} AdminRoute;

/* POST /__admin/reset, with the common route signature. */
static void
route_reset(RkRequest *req, RkReply *reply)
{
	(void) req;
	admin_reset(reply);
}

/* GET /__admin/state, with the common route signature. */
static void
route_state(RkRequest *req, RkReply *reply)
{
	(void) req;
	admin_state(reply);
}

/* GET or DELETE /__admin/log (DELETE keeps the sequence growing). */
static void
route_log(RkRequest *req, RkReply *reply)
{
	if (strcmp(req->method, "DELETE") == 0)
	{
		rk_log_clear(false);
		rk_reply_json(reply, 200, ok_object());
	}
	else
		admin_log(req, reply);
}

static const AdminRoute routes[] = {
	{"/__admin/reset", "POST", route_reset},
	{"/__admin/seed", "POST", admin_seed},
	{"/__admin/state", "GET", route_state},
	{"/__admin/log", "GET, DELETE", route_log},
	{"/__admin/config", "GET, POST", admin_config},
	{"/__admin/faults", "GET, POST, DELETE", admin_faults},
	{"/__admin/down", "POST", admin_down}
};

/* Is method one of the comma-separated methods? */
static bool
method_allowed(const char *methods, const char *method)
{
	size_t		len = strlen(method);

	for (const char *p = methods; (p = strstr(p, method)) != NULL; p += len)
	{
		if ((p == methods || p[-1] == ' ') && (p[len] == '\0' || p[len] == ','))
			return true;
	}
	return false;
}

/* Serve one request under /__admin. */
void
rk_admin_handle(RkRequest *req, RkReply *reply)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
	{
		if (strcmp(req->path, routes[i].path) != 0)
			continue;
		if (!method_allowed(routes[i].methods, req->method))
		{
			admin_error(reply, 405, "method not allowed on this admin endpoint");
			rk_reply_header(reply, "Allow", routes[i].methods);
			return;
		}
		routes[i].handler(req, reply);
		return;
	}
	admin_error(reply, 404, "no such admin endpoint");
}
