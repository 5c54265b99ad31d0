/*-------------------------------------------------------------------------
 *
 * shapes.c
 *		The JSON shapes rkstub sends: key objects in both API generations,
 *		the capability catalog, error bodies in all their spellings and the
 *		HTML pages a proxy would send.
 *
 * Field names, enums and which fields are present follow the vendor SDKs
 * that validate them (@orq-ai/node 4.15.11 for "current", 4.11.10 for
 * "legacy").  Key objects are written as JSON text straight into an
 * RkBuf (list pages hold hundreds of them, and building json-c trees for
 * them was the stub's bottleneck); they read an RkKey, so the caller holds
 * the store lock.  Everything else returns a new json-c object (or
 * malloc'd text) owned by the caller.
 *
 * A fault may ask for extra members in every key object of one answer
 * (faults.c, "members"): http.c sets them for the current thread with
 * rk_shape_set_members while the API handles the request, and
 * rk_shape_key writes them verbatim right after each key object's opening
 * brace, so that no JSON parser ever sees (and rounds) them.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "rkstub.h"

/* Member text spliced into every key object on this thread, or NULL. */
static _Thread_local const char *key_members = NULL;

/* Add val under a literal (constant, not yet present) key. */
static void
add(json_object *obj, const char *key, json_object *val)
{
	json_object_object_add_ex(obj, key, val,
							  JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

/* Add a string member. */
static void
add_str(json_object *obj, const char *key, const char *s)
{
	add(obj, key, json_object_new_string(s));
}

/* Write ,"member": followed by a JSON string. */
static void
put_string(RkBuf *buf, const char *member, const char *s)
{
	rk_buf_puts(buf, member);
	rk_buf_json_string(buf, s);
}

/* Write ,"member": followed by a quoted RFC 3339 time. */
static void
put_time(RkBuf *buf, const char *member, int64_t us)
{
	rk_buf_puts(buf, member);
	rk_buf_time(buf, us);
}

/* Write the owner and project-scope members. */
static void
put_owner_scope(RkBuf *buf, const RkKey *key)
{
	if (key->owner_user_id)
	{
		put_string(buf, ",\"owner\":{\"user\":{\"user_id\":", key->owner_user_id);
		rk_buf_puts(buf, "}}");
	}
	else
		rk_buf_puts(buf, ",\"owner\":{\"service_account\":{}}");
	if (key->project_id)
	{
		put_string(buf, ",\"project_scope\":{\"single\":{\"project_id\":", key->project_id);
		rk_buf_puts(buf, "}}");
	}
	else
		rk_buf_puts(buf, ",\"project_scope\":{\"all\":{}}");
}

/*
 * Write the access member of a restricted key: level names for the
 * current generation, numbers for the legacy one (its SDK declares the
 * values as integers).
 */
static void
put_access(RkBuf *buf, const RkKey *key, RkGeneration generation)
{
	if (key->perm != RK_PERM_RESTRICTED)
		return;
	rk_buf_puts(buf, ",\"access\":{");
	for (int i = 0; i < key->naccess; i++)
	{
		if (i > 0)
			rk_buf_puts(buf, ",");
		rk_buf_json_string(buf, key->access[i].domain);
		rk_buf_puts(buf, ":");
		if (generation == RK_GEN_LEGACY)
		{
			char		digit[2] = {(char) ('0' + key->access[i].level), '\0'};

			rk_buf_puts(buf, digit);
		}
		else
			rk_buf_json_string(buf, rk_access_level_name(key->access[i].level));
	}
	rk_buf_puts(buf, "}");
}

/*
 * The members of a key object as the current SDK reads it
 * (ApiKeyRestResponse), after the opening brace.  token is the raw token
 * right after create, else NULL and a masked value is sent.
 */
static void
shape_current(RkBuf *buf, const RkKey *key, const char *token)
{
	char		masked[RK_PREFIX_LEN + 8];

	snprintf(masked, sizeof(masked), "%s****", key->token_prefix);
	put_string(buf, "\"id\":", key->id);
	put_string(buf, ",\"name\":", key->name);
	put_string(buf, ",\"workspace_id\":", RK_WORKSPACE_ID);
	put_string(buf, ",\"token\":", token ? token : masked);
	rk_buf_puts(buf, key->status == RK_STATUS_ACTIVE ? ",\"active\":true" : ",\"active\":false");
	put_string(buf, ",\"status\":", rk_status_name(key->status));
	put_string(buf, ",\"source\":", key->workspace ? "workspace" : "router");
	put_string(buf, ",\"token_prefix\":", key->token_prefix);
	put_owner_scope(buf, key);
	if (key->project_id)
	{
		put_string(buf, ",\"projects\":[", key->project_id);
		rk_buf_puts(buf, "]");
	}
	else
		rk_buf_puts(buf, ",\"projects\":[]");
	put_string(buf, ",\"permission_mode\":", rk_perm_name(key->perm));
	put_access(buf, key, RK_GEN_CURRENT);
	if (key->mcp_access)
	{
		rk_buf_puts(buf, ",\"mcp_access\":");
		rk_buf_puts(buf, key->mcp_access);
	}
	if (key->labels)
	{
		rk_buf_puts(buf, ",\"labels\":");
		rk_buf_puts(buf, key->labels);
	}
	if (key->expires_us)
		put_time(buf, ",\"expiration\":", key->expires_us);
	put_time(buf, ",\"created\":", key->created_us);
	put_time(buf, ",\"updated\":", key->updated_us);
	rk_buf_puts(buf, ",\"created_by_id\":null,\"updated_by_id\":null"
				",\"consumption\":0,\"token_consumption\":0"
				",\"requests_per_minute_consumption\":0,\"is_legacy\":false}");
}

/*
 * The members of a key object as the legacy SDK reads it (ApiKey), after
 * the opening brace: api_key_id, *_at times, no active, no token, no nulls
 * (its audit ids are not nullable, so they are left out).
 */
static void
shape_legacy(RkBuf *buf, const RkKey *key)
{
	put_string(buf, "\"api_key_id\":", key->id);
	put_string(buf, ",\"name\":", key->name);
	put_owner_scope(buf, key);
	put_string(buf, ",\"permission_mode\":", rk_perm_name(key->perm));
	put_access(buf, key, RK_GEN_LEGACY);
	put_string(buf, ",\"token_prefix\":", key->token_prefix);
	put_string(buf, ",\"status\":", rk_status_name(key->status));
	put_time(buf, ",\"created_at\":", key->created_us);
	put_time(buf, ",\"updated_at\":", key->updated_us);
	if (key->expires_us)
		put_time(buf, ",\"expires_at\":", key->expires_us);
	rk_buf_puts(buf, "}");
}

/*
 * Set (or, with NULL, clear) the member text that rk_shape_key splices
 * into every key object written by the calling thread.  The text must
 * outlive its use; it is written as is, followed by a comma.
 */
void
rk_shape_set_members(const char *members)
{
	key_members = (members && members[0]) ? members : NULL;
}

/*
 * Append the key object of the given generation to buf as JSON text,
 * starting with this thread's extra members, if any.  token is the raw
 * token (only right after create) or NULL.  Caller holds the store lock.
 */
void
rk_shape_key(RkBuf *buf, const RkKey *key, RkGeneration generation,
			 const char *token)
{
	rk_buf_puts(buf, "{");
	if (key_members)
	{
		rk_buf_puts(buf, key_members);
		rk_buf_puts(buf, ",");
	}
	if (generation == RK_GEN_LEGACY)
		shape_legacy(buf, key);
	else
		shape_current(buf, key, token);
}

/* One domain of the capability catalog. */
static json_object *
shape_domain(RkGeneration generation, const char *id, const char *display,
			 int group, bool single_scope)
{
	static const char *const groups[] = {
		"DOMAIN_GROUP_WORKSPACE_ADMIN", "DOMAIN_GROUP_PLATFORM",
		"DOMAIN_GROUP_GATEWAY"
	};
	json_object *d = json_object_new_object();

	add_str(d, "id", id);
	add_str(d, "display_name", display);
	if (generation == RK_GEN_LEGACY)
		add(d, "group", json_object_new_int(group + 1));
	else
	{
		json_object *scopes = json_object_new_array();

		add_str(d, "group", groups[group]);
		json_object_array_add(scopes, json_object_new_string("SCOPE_MODE_ALL"));
		if (single_scope)
			json_object_array_add(scopes, json_object_new_string("SCOPE_MODE_SINGLE"));
		add(d, "allowed_scopes", scopes);
	}
	add(d, "readable", json_object_new_boolean(1));
	add(d, "writable", json_object_new_boolean(1));
	return d;
}

/* The capability catalog (GET /v2/api-keys/capabilities). */
json_object *
rk_shape_capabilities(RkGeneration generation)
{
	json_object *obj = json_object_new_object();
	json_object *domains = json_object_new_array();

	json_object_array_add(domains, shape_domain(generation, "api_keys", "API keys", 0, false));
	json_object_array_add(domains, shape_domain(generation, "deployments", "Deployments", 1, true));
	json_object_array_add(domains, shape_domain(generation, "prompts", "Prompts", 1, true));
	json_object_array_add(domains, shape_domain(generation, "datasets", "Datasets", 1, true));
	json_object_array_add(domains, shape_domain(generation, "knowledge_bases", "Knowledge bases", 1, true));
	json_object_array_add(domains, shape_domain(generation, "router", "AI Router", 2, true));
	add(obj, "domains", domains);
	return obj;
}

/* The machine-readable error code for an HTTP status. */
static const char *
error_code(int status)
{
	switch (status)
	{
		case 400:
			return "invalid_argument";
		case 401:
			return "invalid_api_key";
		case 403:
			return "forbidden";
		case 404:
			return "not_found";
		case 405:
			return "method_not_allowed";
		case 409:
			return "conflict";
		case 413:
			return "payload_too_large";
		case 429:
			return "rate_limit_exceeded";
		case 500:
			return "internal";
		case 502:
			return "bad_gateway";
		case 503:
			return "unavailable";
		case 504:
			return "gateway_timeout";
		default:
			return status >= 500 ? "internal" : "error";
	}
}

/* The error-body spelling the stub uses for each status on its own. */
RkErrorForm
rk_default_form(int status)
{
	switch (status)
	{
		case 400:
			return RK_FORM_CODE_MESSAGE;
		case 404:
			return RK_FORM_CODE_ERROR;
		case 405:
		case 409:
		case 413:
			return RK_FORM_PLAIN;
		default:
			return RK_FORM_OBJECT;
	}
}

/*
 * An error body of one of the JSON forms; id (may be NULL) is added to the
 * {"code":N,"error":...} form.  HTML and empty forms are not JSON: the
 * caller handles them (this returns NULL for them).
 */
json_object *
rk_shape_error(int status, RkErrorForm form, const char *message, const char *id)
{
	json_object *obj = json_object_new_object();
	json_object *inner;

	switch (form)
	{
		case RK_FORM_OBJECT:
			inner = json_object_new_object();
			add_str(inner, "code", error_code(status));
			add_str(inner, "message", message);
			if (status == 401)
				add_str(inner, "doc_url", RK_DOC_URL);
			add(obj, "error", inner);
			break;
		case RK_FORM_CODE_ERROR:
			add(obj, "code", json_object_new_int(status));
			add_str(obj, "error", message);
			add_str(obj, "source", "system");
			if (id)
				add_str(obj, "id", id);
			break;
		case RK_FORM_PLAIN:
			add_str(obj, "error", message);
			break;
		case RK_FORM_CODE_MESSAGE:
			add_str(obj, "code", error_code(status));
			add_str(obj, "message", message);
			break;
		case RK_FORM_HTML:
		case RK_FORM_EMPTY:
			json_object_put(obj);
			return NULL;
	}
	return obj;
}

/*
 * An HTML page like the ones nginx sends: its error page for an error
 * status, its welcome page for 2xx.  Returns malloc'd text.
 */
char *
rk_shape_html_page(int status, size_t *len)
{
	const char *reason = MHD_get_reason_phrase_for((unsigned) status);
	char	   *page = rk_xmalloc(1024);

	if (reason == NULL || reason[0] == '\0')
		reason = "Unknown";
	if (status >= 200 && status < 300)
		snprintf(page, 1024,
				 "<!DOCTYPE html>\r\n<html>\r\n<head>\r\n<title>Welcome to nginx!</title>\r\n"
				 "</head>\r\n<body>\r\n<h1>Welcome to nginx!</h1>\r\n"
				 "<p>If you see this page, the nginx web server is successfully "
				 "installed and working.</p>\r\n</body>\r\n</html>\r\n");
	else
		snprintf(page, 1024,
				 "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
				 "<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n"
				 "</body>\r\n</html>\r\n", status, reason, status, reason);
	*len = strlen(page);
	return page;
}
