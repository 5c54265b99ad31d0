/*-------------------------------------------------------------------------
 *
 * bodies.c
 *		Validation of create and update request bodies, and the enum
 *		spellings of the wire protocol.
 *
 * Turns a parsed JSON body into an RkKeySpec or RkKeyPatch, or into an
 * HTTP status (400 or 403) with a specific message.  It checks only what
 * the body alone can tell; rules that need the store (duplicate names,
 * revoked keys, an update's resulting permission mode) live in api.c.
 * Specs and patches own their strings until handed to the store or freed
 * with rk_spec_free / rk_patch_free.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rkstub.h"

static const char *const status_names[] = {
	"API_KEY_STATUS_ACTIVE",
	"API_KEY_STATUS_DISABLED",
	"API_KEY_STATUS_REVOKED"
};

static const char *const perm_names[] = {
	"PERMISSION_MODE_ALL",
	"PERMISSION_MODE_RESTRICTED",
	"PERMISSION_MODE_READ_ONLY"
};

static const char *const access_names[] = {
	"ACCESS_LEVEL_NONE",
	"ACCESS_LEVEL_READ",
	"ACCESS_LEVEL_WRITE"
};

/* Wire name of a key status. */
const char *
rk_status_name(RkKeyStatus status)
{
	return status_names[status];
}

/* Parse a key status name (API_KEY_STATUS_UNSPECIFIED is not accepted). */
bool
rk_status_parse(const char *s, RkKeyStatus *out)
{
	for (int i = 0; i < 3; i++)
	{
		if (strcmp(s, status_names[i]) == 0)
		{
			*out = (RkKeyStatus) i;
			return true;
		}
	}
	return false;
}

/* Wire name of a permission mode. */
const char *
rk_perm_name(RkPermMode perm)
{
	return perm_names[perm];
}

/*
 * Parse a permission mode name.  PERMISSION_MODE_UNSPECIFIED is valid and
 * sets *unspecified (the field then means "not given").
 */
bool
rk_perm_parse(const char *s, bool *unspecified, RkPermMode *out)
{
	*unspecified = false;
	if (strcmp(s, "PERMISSION_MODE_UNSPECIFIED") == 0)
	{
		*unspecified = true;
		return true;
	}
	for (int i = 0; i < 3; i++)
	{
		if (strcmp(s, perm_names[i]) == 0)
		{
			*out = (RkPermMode) i;
			return true;
		}
	}
	return false;
}

/* Wire name of an access level 0..2. */
const char *
rk_access_level_name(int level)
{
	return access_names[level];
}

/* Format an error message into err and return status. */
static int
fail(int status, char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

/*
 * Check a key name: a string of 1..128 characters, not blank, without NUL.
 * On success *out is a copy.  Returns 0 or 400.
 */
static int
parse_name(json_object *v, char **out, char *err, size_t errlen)
{
	const char *s;
	size_t		len;
	size_t		chars;
	bool		valid;
	bool		blank = true;

	if (!json_object_is_type(v, json_type_string))
		return fail(400, err, errlen, "name must be a string");
	s = json_object_get_string(v);
	len = (size_t) json_object_get_string_len(v);
	if (len == 0)
		return fail(400, err, errlen, "name must not be empty");
	if (strlen(s) != len)
		return fail(400, err, errlen, "name must not contain NUL characters");
	chars = rk_utf8_chars(s, len, &valid);
	if (!valid)
		return fail(400, err, errlen, "name must be valid UTF-8");
	if (chars > RK_NAME_MAX_CHARS)
		return fail(400, err, errlen,
					"name must be at most %d characters (got %zu)",
					RK_NAME_MAX_CHARS, chars);
	for (size_t i = 0; i < len && blank; i++)
		blank = isspace((unsigned char) s[i]);
	if (blank)
		return fail(400, err, errlen, "name must not be blank");
	*out = rk_xstrndup(s, len);
	return 0;
}

/*
 * Check an expiry: an RFC 3339 string in the future.  Returns 0 or 400.
 */
static int
parse_expiry(json_object *v, int64_t *out, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(400, err, errlen,
					"expires_at must be an RFC 3339 timestamp string");
	if (!rk_parse_time(json_object_get_string(v), out))
		return fail(400, err, errlen,
					"expires_at \"%.64s\" is not a valid RFC 3339 timestamp",
					json_object_get_string(v));
	if (*out <= rk_now_us())
		return fail(400, err, errlen, "expires_at must be in the future");
	return 0;
}

/* Is v a JSON object (for sub-messages such as {"all":{}})? */
static bool
is_object(json_object *v)
{
	return json_object_is_type(v, json_type_object);
}

/*
 * Check a project scope: exactly one of {"all":{}} and
 * {"single":{"project_id":"..."}}.  *project_id is NULL for all projects.
 * Returns 0 or 400.
 */
static int
parse_scope(json_object *v, char **project_id, char *err, size_t errlen)
{
	json_object *all;
	json_object *single;
	json_object *pid;

	if (!is_object(v))
		return fail(400, err, errlen, "project_scope must be an object");
	all = rk_json_member(v, "all");
	single = rk_json_member(v, "single");
	if ((all == NULL) == (single == NULL))
		return fail(400, err, errlen,
					"project_scope must set exactly one of \"all\" or \"single\"");
	if (all)
	{
		if (!is_object(all))
			return fail(400, err, errlen, "project_scope.all must be an object");
		*project_id = NULL;
		return 0;
	}
	if (!is_object(single))
		return fail(400, err, errlen, "project_scope.single must be an object");
	pid = rk_json_member(single, "project_id");
	if (pid == NULL || !json_object_is_type(pid, json_type_string) ||
		json_object_get_string_len(pid) == 0)
		return fail(400, err, errlen,
					"project_scope.single.project_id must be a non-empty string");
	*project_id = rk_xstrdup(json_object_get_string(pid));
	return 0;
}

/*
 * Check an owner: exactly one of {"service_account":{}} and
 * {"user":{"user_id":"..."}}.  *user_id is NULL for a service account.
 * Returns 0 or 400.
 */
static int
parse_owner(json_object *v, char **user_id, char *err, size_t errlen)
{
	json_object *sa;
	json_object *user;
	json_object *uid;

	if (!is_object(v))
		return fail(400, err, errlen, "owner must be an object");
	sa = rk_json_member(v, "service_account");
	user = rk_json_member(v, "user");
	if ((sa == NULL) == (user == NULL))
		return fail(400, err, errlen,
					"owner must set exactly one of \"service_account\" or \"user\"");
	if (sa)
	{
		if (!is_object(sa))
			return fail(400, err, errlen, "owner.service_account must be an object");
		*user_id = NULL;
		return 0;
	}
	if (!is_object(user))
		return fail(400, err, errlen, "owner.user must be an object");
	uid = rk_json_member(user, "user_id");
	if (uid == NULL || !json_object_is_type(uid, json_type_string) ||
		json_object_get_string_len(uid) == 0)
		return fail(400, err, errlen, "owner.user.user_id must be a non-empty string");
	*user_id = rk_xstrdup(json_object_get_string(uid));
	return 0;
}

/* Parse one access level: an ACCESS_LEVEL_* name or its number 0..2. */
static bool
parse_level(json_object *v, int *level)
{
	int64_t		n;

	if (json_object_is_type(v, json_type_string))
	{
		for (int i = 0; i < 3; i++)
		{
			if (strcmp(json_object_get_string(v), access_names[i]) == 0)
			{
				*level = i;
				return true;
			}
		}
		return false;
	}
	if (rk_json_int(v, &n) && n >= 0 && n <= 2)
	{
		*level = (int) n;
		return true;
	}
	return false;
}

/*
 * Check an access map (domain id -> access level).  Returns 0 or 400;
 * on success *access and *naccess hold a new array.
 */
static int
parse_access(json_object *v, RkAccess **access, int *naccess,
			 char *err, size_t errlen)
{
	RkAccess   *arr;
	int			n = 0;

	if (!is_object(v))
		return fail(400, err, errlen,
					"access must be an object mapping domain ids to access levels");
	arr = rk_xcalloc((size_t) json_object_object_length(v) + 1, sizeof(RkAccess));
	json_object_object_foreach(v, domain, level)
	{
		if (domain[0] == '\0' || !parse_level(level, &arr[n].level))
		{
			rk_access_free(arr, n);
			if (domain[0] == '\0')
				return fail(400, err, errlen, "access domain ids must not be empty");
			return fail(400, err, errlen,
						"access[\"%.64s\"] must be one of ACCESS_LEVEL_NONE, "
						"ACCESS_LEVEL_READ, ACCESS_LEVEL_WRITE", domain);
		}
		arr[n++].domain = rk_xstrdup(domain);
	}
	*access = arr;
	*naccess = n;
	return 0;
}

/* Check that v is an array of strings. */
static bool
is_string_array(json_object *v)
{
	if (!json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++)
	{
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return false;
	}
	return true;
}

/*
 * Check an MCP access restriction (deny_all and three id lists).  On
 * success *out is its compact JSON text.  Returns 0 or 400.
 */
static int
parse_mcp(json_object *v, char **out, char *err, size_t errlen)
{
	static const char *const lists[] = {
		"allowed_mcp_gateway_ids", "toolset_ids", "allowed_filesystem_ids"
	};
	json_object *deny;

	if (!is_object(v))
		return fail(400, err, errlen, "mcp_access must be an object");
	deny = rk_json_member(v, "deny_all");
	if (deny && !json_object_is_type(deny, json_type_boolean))
		return fail(400, err, errlen, "mcp_access.deny_all must be a boolean");
	for (int i = 0; i < 3; i++)
	{
		json_object *list = rk_json_member(v, lists[i]);

		if (list && !is_string_array(list))
			return fail(400, err, errlen, "mcp_access.%s must be an array of strings",
						lists[i]);
	}
	*out = rk_json_text(v);
	return 0;
}

/*
 * Check labels: an object of string values.  On success *out is its
 * compact JSON text.  Returns 0 or 400.
 */
static int
parse_labels(json_object *v, char **out, char *err, size_t errlen)
{
	if (!is_object(v))
		return fail(400, err, errlen, "labels must be an object of strings");
	json_object_object_foreach(v, lname, lvalue)
	{
		if (!json_object_is_type(lvalue, json_type_string))
			return fail(400, err, errlen, "labels[\"%.64s\"] must be a string", lname);
	}
	*out = rk_json_text(v);
	return 0;
}

/*
 * Does the body ask for something a provisioning key may not create (a
 * provisioning key or a workspace key)?  Returns 0 or 403.
 */
static int
check_forbidden_kind(json_object *body, char *err, size_t errlen)
{
	static const char *const kind_fields[] = {"type", "key_type", "kind"};
	json_object *source = rk_json_member(body, "source");

	for (int i = 0; i < 3; i++)
	{
		json_object *v = rk_json_member(body, kind_fields[i]);

		if (v && json_object_is_type(v, json_type_string) &&
			strcasecmp(json_object_get_string(v), "provisioning") == 0)
			return fail(403, err, errlen,
						"a provisioning key cannot create provisioning keys");
	}
	if (source && json_object_is_type(source, json_type_string) &&
		strcasecmp(json_object_get_string(source), "workspace") == 0)
		return fail(403, err, errlen,
					"a provisioning key cannot create workspace API keys");
	return 0;
}

/* Parse a permission_mode member; *given is false for absent/UNSPECIFIED. */
static int
parse_perm_member(json_object *v, bool *given, RkPermMode *perm,
				  char *err, size_t errlen)
{
	bool		unspecified;

	*given = false;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
		!rk_perm_parse(json_object_get_string(v), &unspecified, perm))
		return fail(400, err, errlen,
					"permission_mode must be one of PERMISSION_MODE_ALL, "
					"PERMISSION_MODE_READ_ONLY, PERMISSION_MODE_RESTRICTED");
	*given = !unspecified;
	return 0;
}

/*
 * Check that an access map fits a permission mode: RESTRICTED needs one,
 * the other modes take none (an empty map is ignored).  Returns 0 or 400.
 * Also used by api.c for an update's resulting mode.
 */
int
rk_check_access_fits(RkPermMode perm, bool has_access, int naccess,
				  char *err, size_t errlen)
{
	if (perm == RK_PERM_RESTRICTED && !has_access)
		return fail(400, err, errlen,
					"access is required when permission_mode is PERMISSION_MODE_RESTRICTED");
	if (perm != RK_PERM_RESTRICTED && has_access && naccess > 0)
		return fail(400, err, errlen,
					"access is only allowed when permission_mode is PERMISSION_MODE_RESTRICTED");
	return 0;
}

/* Release what a spec still owns. */
void
rk_spec_free(RkKeySpec *spec)
{
	free(spec->name);
	free(spec->project_id);
	free(spec->owner_user_id);
	rk_access_free(spec->access, spec->naccess);
	free(spec->mcp_access);
	free(spec->labels);
	memset(spec, 0, sizeof(*spec));
}

/* Parse the optional members of a create body into spec. */
static int
parse_create_options(json_object *body, RkKeySpec *spec, char *err, size_t errlen)
{
	json_object *v;
	bool		has_perm;
	bool		has_access = false;
	int			rc;

	if ((v = rk_json_member(body, "expires_at")) != NULL &&
		(rc = parse_expiry(v, &spec->expires_us, err, errlen)) != 0)
		return rc;
	if ((v = rk_json_member(body, "project_scope")) != NULL &&
		(rc = parse_scope(v, &spec->project_id, err, errlen)) != 0)
		return rc;
	if ((v = rk_json_member(body, "owner")) != NULL &&
		(rc = parse_owner(v, &spec->owner_user_id, err, errlen)) != 0)
		return rc;
	if ((rc = parse_perm_member(rk_json_member(body, "permission_mode"), &has_perm,
								&spec->perm, err, errlen)) != 0)
		return rc;
	if (!has_perm)
		spec->perm = RK_PERM_ALL;
	if ((v = rk_json_member(body, "access")) != NULL)
	{
		if ((rc = parse_access(v, &spec->access, &spec->naccess, err, errlen)) != 0)
			return rc;
		has_access = true;
	}
	if ((rc = rk_check_access_fits(spec->perm, has_access, spec->naccess, err, errlen)) != 0)
		return rc;
	if (spec->perm != RK_PERM_RESTRICTED)
	{
		rk_access_free(spec->access, spec->naccess);
		spec->access = NULL;
		spec->naccess = 0;
	}
	if ((v = rk_json_member(body, "mcp_access")) != NULL &&
		(rc = parse_mcp(v, &spec->mcp_access, err, errlen)) != 0)
		return rc;
	if ((v = rk_json_member(body, "labels")) != NULL &&
		(rc = parse_labels(v, &spec->labels, err, errlen)) != 0)
		return rc;
	return 0;
}

/*
 * Validate a create body into spec.  Returns 0, or 400/403 with a message
 * in err; spec is always safe to pass to rk_spec_free afterwards.
 */
int
rk_parse_create(json_object *body, RkKeySpec *spec, char *err, size_t errlen)
{
	json_object *name;
	int			rc;

	memset(spec, 0, sizeof(*spec));
	spec->status = RK_STATUS_ACTIVE;
	if (!is_object(body))
		return fail(400, err, errlen, "request body must be a JSON object");
	if ((rc = check_forbidden_kind(body, err, errlen)) != 0)
		return rc;
	name = rk_json_member(body, "name");
	if (name == NULL)
		return fail(400, err, errlen, "name is required");
	if ((rc = parse_name(name, &spec->name, err, errlen)) != 0)
		return rc;
	return parse_create_options(body, spec, err, errlen);
}

/* Release what a patch still owns. */
void
rk_patch_free(RkKeyPatch *patch)
{
	free(patch->name);
	free(patch->project_id);
	rk_access_free(patch->access, patch->naccess);
	free(patch->mcp_access);
	memset(patch, 0, sizeof(*patch));
}

/* Parse the expiry members of an update body. */
static int
parse_patch_expiry(json_object *body, RkKeyPatch *patch, char *err, size_t errlen)
{
	json_object *exp = rk_json_member(body, "expires_at");
	json_object *clear = rk_json_member(body, "clear_expires_at");
	int			rc;

	if (clear)
	{
		if (!json_object_is_type(clear, json_type_boolean))
			return fail(400, err, errlen, "clear_expires_at must be a boolean");
		patch->clear_expires = json_object_get_boolean(clear);
	}
	if (exp && patch->clear_expires)
		return fail(400, err, errlen,
					"expires_at and clear_expires_at cannot be used together");
	if (exp)
	{
		if ((rc = parse_expiry(exp, &patch->expires_us, err, errlen)) != 0)
			return rc;
		patch->has_expires = true;
	}
	return 0;
}

/* Parse the status member of an update body. */
static int
parse_patch_status(json_object *v, RkKeyPatch *patch, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_string) ||
		!rk_status_parse(json_object_get_string(v), &patch->status))
		return fail(400, err, errlen,
					"status must be one of API_KEY_STATUS_ACTIVE, "
					"API_KEY_STATUS_DISABLED, API_KEY_STATUS_REVOKED");
	patch->has_status = true;
	return 0;
}

/*
 * Validate an update body into patch.  Returns 0, or 400 with a message
 * in err; patch is always safe to pass to rk_patch_free afterwards.
 */
int
rk_parse_patch(json_object *body, RkKeyPatch *patch, char *err, size_t errlen)
{
	json_object *v;
	int			rc;

	memset(patch, 0, sizeof(*patch));
	if (!is_object(body))
		return fail(400, err, errlen, "request body must be a JSON object");
	if ((v = rk_json_member(body, "name")) != NULL)
	{
		if ((rc = parse_name(v, &patch->name, err, errlen)) != 0)
			return rc;
		patch->has_name = true;
	}
	if ((v = rk_json_member(body, "status")) != NULL &&
		(rc = parse_patch_status(v, patch, err, errlen)) != 0)
		return rc;
	if ((rc = parse_patch_expiry(body, patch, err, errlen)) != 0)
		return rc;
	if ((rc = parse_perm_member(rk_json_member(body, "permission_mode"), &patch->has_perm,
								&patch->perm, err, errlen)) != 0)
		return rc;
	if ((v = rk_json_member(body, "access")) != NULL)
	{
		if ((rc = parse_access(v, &patch->access, &patch->naccess, err, errlen)) != 0)
			return rc;
		patch->has_access = true;
	}
	if ((v = rk_json_member(body, "project_scope")) != NULL)
	{
		if ((rc = parse_scope(v, &patch->project_id, err, errlen)) != 0)
			return rc;
		patch->has_scope = true;
	}
	if ((v = rk_json_member(body, "mcp_access")) != NULL)
	{
		if ((rc = parse_mcp(v, &patch->mcp_access, err, errlen)) != 0)
			return rc;
		patch->has_mcp = true;
	}
	return 0;
}
