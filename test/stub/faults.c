/*-------------------------------------------------------------------------
 *
 * faults.c
 *		Fault injection: the registry of armed faults (/__admin/faults),
 *		matching a request against it, and what each kind of fault does to
 *		the reply.
 *
 * Faults are kept in arming order under one mutex.  A request that matches
 * takes a private copy (rk_faults_take), so everything after the match
 * runs without the lock; the copy is freed with rk_fault_release.  Kinds
 * that "perform" let api.c answer first and then change the answer
 * (rk_fault_transform on the JSON tree, rk_fault_deliver on the bytes);
 * the others replace the answer entirely (rk_fault_reply).
 *
 * A fault that performs may carry "members": raw JSON member text that
 * goes, verbatim and followed by a comma, right after the opening brace of
 * every key object of the answer (kind "extra" does only that).  It is
 * written by rk_shape_key (see rk_fault_key_members), never parsed; for
 * the kinds that must edit a JSON tree, a placeholder member stands in for
 * it while json-c holds the answer, and is replaced by the text after the
 * tree has been serialized again.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "rkstub.h"

#define DEFAULT_DELAY_MS		1000
#define DEFAULT_OVERSIZED_BYTES (8 * 1024 * 1024)
#define MAX_OVERSIZED_BYTES		((int64_t) 1024 * 1024 * 1024)
#define LENGTHOF(a)				((int) (sizeof(a) / sizeof((a)[0])))

/*
 * The member that stands in for a fault's "members" while json-c holds an
 * answer.  Its name starts with U+0001, which json-c always writes as the
 * escape below and which no fixed member of a key object has.
 */
#define MEMBERS_PLACEHOLDER		"\"\\u0001rkstub-members\":null"

static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
static RkFault *faults = NULL;
static int	nfaults = 0;
static int	next_fault_id = 1;

static const char *const kind_names[] = {
	"status", "delay_headers", "delay_body", "reset", "truncate", "html",
	"oversized", "invalid_utf8", "wrong_types", "raw", "drop", "extra"
};

static const char *const form_names[] = {
	"object", "code_error", "plain", "code_message", "html", "empty"
};

/* The admin-API spelling of a fault kind. */
const char *
rk_fault_kind_name(RkFaultKind kind)
{
	return kind_names[kind];
}

/* Index of s in names[0..n), or -1. */
static int
lookup_name(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
	{
		if (strcmp(names[i], s) == 0)
			return i;
	}
	return -1;
}

/* Free the strings of a fault (the struct itself is not freed). */
void
rk_fault_release(RkFault *fault)
{
	free(fault->method);
	free(fault->path);
	free(fault->query_contains);
	free(fault->message);
	free(fault->retry_after);
	free(fault->content_type);
	free(fault->body);
	free(fault->members);
	memset(fault, 0, sizeof(*fault));
}

/* A deep copy of a fault. */
static void
fault_copy(const RkFault *src, RkFault *dst)
{
	*dst = *src;
	dst->method = rk_xstrdup(src->method);
	dst->path = rk_xstrdup(src->path);
	dst->query_contains = rk_xstrdup(src->query_contains);
	dst->message = rk_xstrdup(src->message);
	dst->retry_after = rk_xstrdup(src->retry_after);
	dst->content_type = rk_xstrdup(src->content_type);
	dst->body = rk_xstrdup(src->body);
	dst->members = rk_xstrdup(src->members);
}

/*
 * Read an optional string member into *out.  A number is accepted and
 * printed (so "retry_after": 1 works); for "body", any JSON is accepted
 * and serialized.  Returns false on a wrong type.
 */
static bool
spec_string(json_object *spec, const char *name, char **out)
{
	json_object *v;

	if (!json_object_object_get_ex(spec, name, &v) || v == NULL)
		return true;
	if (json_object_is_type(v, json_type_string) ||
		json_object_is_type(v, json_type_int) ||
		(strcmp(name, "body") == 0))
	{
		*out = rk_xstrdup(json_object_is_type(v, json_type_string)
						  ? json_object_get_string(v)
						  : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		return true;
	}
	return false;
}

/* Read an optional integer member within [min, max] into *out. */
static bool
spec_int(json_object *spec, const char *name, int64_t min, int64_t max,
		 int64_t *out)
{
	json_object *v;
	int64_t		n;

	if (!json_object_object_get_ex(spec, name, &v) || v == NULL)
		return true;
	if (!rk_json_int(v, &n) || n < min || n > max)
		return false;
	*out = n;
	return true;
}

/* Read the matching part of a fault spec.  Returns false with err set. */
static bool
parse_match(json_object *spec, RkFault *f, char *err, size_t errlen)
{
	int64_t		skip = 0;
	int64_t		count = 1;

	if (!spec_string(spec, "method", &f->method) ||
		!spec_string(spec, "path", &f->path) ||
		!spec_string(spec, "query_contains", &f->query_contains))
	{
		snprintf(err, errlen, "method, path and query_contains must be strings");
		return false;
	}
	if (!spec_int(spec, "skip", 0, INT32_MAX, &skip))
	{
		snprintf(err, errlen, "skip must be a non-negative integer");
		return false;
	}
	if (!spec_int(spec, "count", -1, INT32_MAX, &count) || count == 0)
	{
		snprintf(err, errlen, "count must be a positive integer or -1");
		return false;
	}
	f->skip = (int) skip;
	f->count = (int) count;
	return true;
}

/* Read the error-form member of a fault spec. */
static bool
parse_form(json_object *spec, RkFault *f, char *err, size_t errlen)
{
	json_object *v;
	int			form;

	f->form = RK_FORM_OBJECT;
	if (!json_object_object_get_ex(spec, "error_form", &v) || v == NULL)
		return true;
	form = json_object_is_type(v, json_type_string)
		? lookup_name(form_names, LENGTHOF(form_names), json_object_get_string(v)) : -1;
	if (form < 0)
	{
		snprintf(err, errlen,
				 "error_form must be one of object, code_error, plain, "
				 "code_message, html, empty");
		return false;
	}
	f->form = (RkErrorForm) form;
	return true;
}

/* Read the effect part of a fault spec.  Returns false with err set. */
static bool
parse_effect(json_object *spec, RkFault *f, char *err, size_t errlen)
{
	int64_t		status = -1;
	int64_t		ms = DEFAULT_DELAY_MS;
	int64_t		bytes = DEFAULT_OVERSIZED_BYTES;
	int64_t		date = -1;
	json_object *apply;

	if (!spec_int(spec, "status", 200, 599, &status))
	{
		snprintf(err, errlen, "status must be an integer between 200 and 599");
		return false;
	}
	if (f->kind == RK_FAULT_STATUS && status < 0)
	{
		snprintf(err, errlen, "a fault of kind \"status\" needs a status");
		return false;
	}
	if (!spec_int(spec, "ms", 0, 3600 * 1000, &ms) ||
		!spec_int(spec, "bytes", 0, MAX_OVERSIZED_BYTES, &bytes) ||
		!spec_int(spec, "retry_after_date", 0, 100L * 365 * 86400, &date))
	{
		snprintf(err, errlen,
				 "ms, bytes and retry_after_date must be non-negative integers in range");
		return false;
	}
	if (!spec_string(spec, "message", &f->message) ||
		!spec_string(spec, "retry_after", &f->retry_after) ||
		!spec_string(spec, "content_type", &f->content_type) ||
		!spec_string(spec, "body", &f->body))
	{
		snprintf(err, errlen, "message, retry_after and content_type must be strings");
		return false;
	}
	if (f->retry_after &&
		(f->retry_after[0] == '\0' || strpbrk(f->retry_after, "\r\n") != NULL))
	{
		/* libmicrohttpd would silently drop such a header */
		snprintf(err, errlen,
				 "retry_after must not be empty or contain CR or LF "
				 "(anything else is sent verbatim)");
		return false;
	}
	if (json_object_object_get_ex(spec, "apply", &apply) && apply != NULL)
	{
		if (!json_object_is_type(apply, json_type_boolean))
		{
			snprintf(err, errlen, "apply must be a boolean");
			return false;
		}
		f->apply = json_object_get_boolean(apply);
	}
	f->status = status > 0 ? (int) status : 200;
	f->ms = (int) ms;
	f->bytes = bytes;
	f->retry_after_date = (int) date;
	return parse_form(spec, f, err, errlen);
}

/*
 * Read the "members" of a fault spec: a string of raw JSON member text,
 * kept as is (it is not checked, so it may even make the answer invalid
 * JSON).  Only a fault that performs has key objects to put it in.
 * Returns false with err set.
 */
static bool
parse_members(json_object *spec, RkFault *f, char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(spec, "members", &v) || v == NULL)
		return true;
	if (!json_object_is_type(v, json_type_string))
	{
		snprintf(err, errlen, "members must be a string of JSON member text");
		return false;
	}
	if (!rk_fault_performs(f))
	{
		snprintf(err, errlen,
				 "members needs a fault that performs the request "
				 "(not html, raw, or status without apply)");
		return false;
	}
	if (json_object_get_string_len(v) > 0)
		f->members = rk_xstrdup(json_object_get_string(v));
	return true;
}

/*
 * Arm a fault from its JSON spec.  Returns its id, or -1 with a message in
 * err.
 */
int
rk_faults_arm(json_object *spec, char *err, size_t errlen)
{
	RkFault		f;
	json_object *kind;
	int			k;

	memset(&f, 0, sizeof(f));
	f.retry_after_date = -1;
	if (!json_object_is_type(spec, json_type_object))
	{
		snprintf(err, errlen, "fault must be a JSON object");
		return -1;
	}
	k = (json_object_object_get_ex(spec, "kind", &kind) &&
		 json_object_is_type(kind, json_type_string))
		? lookup_name(kind_names, LENGTHOF(kind_names), json_object_get_string(kind)) : -1;
	if (k < 0)
	{
		snprintf(err, errlen,
				 "kind must be one of status, delay_headers, delay_body, reset, "
				 "truncate, html, oversized, invalid_utf8, wrong_types, raw, "
				 "drop, extra");
		return -1;
	}
	f.kind = (RkFaultKind) k;
	if (!parse_match(spec, &f, err, errlen) || !parse_effect(spec, &f, err, errlen) ||
		!parse_members(spec, &f, err, errlen))
	{
		rk_fault_release(&f);
		return -1;
	}
	pthread_mutex_lock(&faults_lock);
	f.id = next_fault_id++;
	faults = rk_xrealloc(faults, sizeof(RkFault) * (nfaults + 1));
	faults[nfaults++] = f;
	pthread_mutex_unlock(&faults_lock);
	return f.id;
}

/* Remove the fault at index i.  Caller holds faults_lock. */
static void
remove_fault(int i)
{
	rk_fault_release(&faults[i]);
	memmove(&faults[i], &faults[i + 1], sizeof(RkFault) * (nfaults - i - 1));
	nfaults--;
}

/* Disarm every fault. */
void
rk_faults_clear(void)
{
	pthread_mutex_lock(&faults_lock);
	while (nfaults > 0)
		remove_fault(nfaults - 1);
	free(faults);
	faults = NULL;
	pthread_mutex_unlock(&faults_lock);
}

/* Number of armed faults. */
int
rk_faults_armed(void)
{
	int			n;

	pthread_mutex_lock(&faults_lock);
	n = nfaults;
	pthread_mutex_unlock(&faults_lock);
	return n;
}

/* The armed faults as a JSON array (for GET /__admin/faults). */
json_object *
rk_faults_describe(void)
{
	json_object *arr = json_object_new_array();

	pthread_mutex_lock(&faults_lock);
	for (int i = 0; i < nfaults; i++)
	{
		json_object *o = json_object_new_object();
		const RkFault *f = &faults[i];

		json_object_object_add(o, "id", json_object_new_int(f->id));
		json_object_object_add(o, "kind", json_object_new_string(kind_names[f->kind]));
		json_object_object_add(o, "method", f->method ? json_object_new_string(f->method) : NULL);
		json_object_object_add(o, "path", f->path ? json_object_new_string(f->path) : NULL);
		json_object_object_add(o, "query_contains",
							   f->query_contains ? json_object_new_string(f->query_contains) : NULL);
		json_object_object_add(o, "skip", json_object_new_int(f->skip));
		json_object_object_add(o, "count", json_object_new_int(f->count));
		if (f->members)
			json_object_object_add(o, "members", json_object_new_string(f->members));
		json_object_array_add(arr, o);
	}
	pthread_mutex_unlock(&faults_lock);
	return arr;
}

/* Does a request match a fault's method, path prefix and query filter? */
static bool
fault_matches(const RkFault *f, const char *method, const char *path,
			  const char *query)
{
	if (f->method && strcasecmp(f->method, method) != 0)
		return false;
	if (f->path && strncmp(path, f->path, strlen(f->path)) != 0)
		return false;
	if (f->query_contains && strstr(query, f->query_contains) == NULL)
		return false;
	return true;
}

/*
 * Find the fault that applies to a request: every matching fault still
 * skipping counts the request; the first matching one past its skip count
 * applies, is copied into *out and loses one of its count (disarming at
 * zero).  Returns false when none applies.
 */
bool
rk_faults_take(const char *method, const char *path, const char *query,
			   RkFault *out)
{
	bool		found = false;

	pthread_mutex_lock(&faults_lock);
	for (int i = 0; i < nfaults; i++)
	{
		RkFault    *f = &faults[i];

		if (!fault_matches(f, method, path, query))
			continue;
		if (f->skip > 0)
		{
			f->skip--;
			continue;
		}
		fault_copy(f, out);
		found = true;
		if (f->count > 0 && --f->count == 0)
			remove_fault(i);
		break;
	}
	pthread_mutex_unlock(&faults_lock);
	return found;
}

/* Does this fault let the request take effect (and answer after it)? */
bool
rk_fault_performs(const RkFault *fault)
{
	switch (fault->kind)
	{
		case RK_FAULT_STATUS:
			return fault->apply;
		case RK_FAULT_HTML:
		case RK_FAULT_RAW:
			return false;
		default:
			return true;
	}
}

/* Does this kind turn the answer into a json-c tree to edit it? */
static bool
edits_tree(RkFaultKind kind)
{
	return kind == RK_FAULT_OVERSIZED || kind == RK_FAULT_INVALID_UTF8 ||
		kind == RK_FAULT_WRONG_TYPES;
}

/*
 * The member text rk_shape_key must splice into the key objects of this
 * fault's answer: the fault's members, or their placeholder when the
 * answer will pass through json-c; NULL when there are none.
 */
const char *
rk_fault_key_members(const RkFault *fault)
{
	if (fault->members == NULL || !rk_fault_performs(fault))
		return NULL;
	return edits_tree(fault->kind) ? MEMBERS_PLACEHOLDER : fault->members;
}

/* Add Retry-After (and, for 429, rate-limit headers) from a status fault. */
static void
add_retry_headers(const RkFault *f, RkReply *reply)
{
	char		buf[64];
	long		reset = 1;

	if (f->retry_after)
	{
		rk_reply_header(reply, "Retry-After", f->retry_after);
		reset = atol(f->retry_after) > 0 ? atol(f->retry_after) : 1;
	}
	else if (f->retry_after_date >= 0)
	{
		rk_http_date(time(NULL) + f->retry_after_date, buf, sizeof(buf));
		rk_reply_header(reply, "Retry-After", buf);
		reset = f->retry_after_date;
	}
	if (f->status != 429)
		return;
	rk_reply_header(reply, "X-RateLimit-Limit", "60");
	rk_reply_header(reply, "X-RateLimit-Remaining", "0");
	snprintf(buf, sizeof(buf), "%ld", reset);
	rk_reply_header(reply, "X-RateLimit-Reset", buf);
}

/* The message of a status fault: its own, or one fitting the status. */
static const char *
status_message(const RkFault *f)
{
	const char *reason;

	if (f->message)
		return f->message;
	if (f->status == 429)
		return "rate limit exceeded, retry later";
	reason = MHD_get_reason_phrase_for((unsigned) f->status);
	return (reason && reason[0]) ? reason : "injected failure";
}

/*
 * Build the whole reply of a fault that replaces the answer (status, html,
 * raw), discarding whatever the reply held.
 */
void
rk_fault_reply(const RkFault *fault, RkReply *reply)
{
	size_t		len;
	char	   *page;

	rk_reply_free(reply);
	switch (fault->kind)
	{
		case RK_FAULT_HTML:
			page = rk_shape_html_page(fault->status, &len);
			rk_reply_raw(reply, fault->status, "text/html", page, len);
			free(page);
			break;
		case RK_FAULT_RAW:
			rk_reply_raw(reply, fault->status, fault->content_type,
						 fault->body ? fault->body : "",
						 fault->body ? strlen(fault->body) : 0);
			break;
		default:
			rk_reply_error_form(reply, fault->status, fault->form,
								status_message(fault), NULL);
			add_retry_headers(fault, reply);
			break;
	}
}

/* Call fn on every key object in a reply's JSON tree, in either shape. */
static void
each_key_object(json_object *root, void (*fn) (json_object *key))
{
	json_object *inner;

	if (json_object_is_type(root, json_type_array))
	{
		for (size_t i = 0; i < json_object_array_length(root); i++)
			each_key_object(json_object_array_get_idx(root, i), fn);
		return;
	}
	if (!json_object_is_type(root, json_type_object))
		return;
	if (json_object_object_get_ex(root, "api_key", &inner))
		each_key_object(inner, fn);
	else if (json_object_object_get_ex(root, "data", &inner))
		each_key_object(inner, fn);
	else if (json_object_object_get_ex(root, "id", NULL) ||
			 json_object_object_get_ex(root, "api_key_id", NULL))
		fn(root);
}

/* Append invalid UTF-8 (a broken two-byte sequence and 0xFF) to the name. */
static void
break_utf8(json_object *key)
{
	json_object *name;
	char		buf[1024];
	int			len;

	if (!json_object_object_get_ex(key, "name", &name))
		return;
	len = snprintf(buf, sizeof(buf), "%s\xC3\x28-\xFF", json_object_get_string(name));
	if (len >= (int) sizeof(buf))
		len = sizeof(buf) - 1;
	json_object_object_add(key, "name", json_object_new_string_len(buf, len));
}

/* Replace a member with val if the member exists (val is freed if not). */
static void
replace_member(json_object *key, const char *name, json_object *val)
{
	if (json_object_object_get_ex(key, name, NULL))
		json_object_object_add(key, name, val);
	else
		json_object_put(val);
}

/* Give the main fields of a key object the wrong JSON types. */
static void
break_types(json_object *key)
{
	json_object *name = NULL;
	json_object *wrapped = json_object_new_object();

	if (json_object_object_get_ex(key, "name", &name))
		json_object_object_add(wrapped, "value", json_object_get(name));
	replace_member(key, "id", json_object_new_int64(1234567890123LL));
	replace_member(key, "api_key_id", json_object_new_int64(1234567890123LL));
	replace_member(key, "active", json_object_new_string("yes"));
	replace_member(key, "name", wrapped);
	replace_member(key, "created", json_object_new_int64((int64_t) time(NULL)));
	replace_member(key, "created_at", json_object_new_int64((int64_t) time(NULL)));
}

/*
 * The object that receives the padding of an oversized answer: the key
 * object of a get/create/update, the first key of a list, or the top-level
 * object.  NULL for an empty bare list.
 */
static json_object *
padding_target(json_object *root)
{
	json_object *inner;

	if (json_object_is_type(root, json_type_array))
		return json_object_array_length(root) > 0
			? json_object_array_get_idx(root, 0) : NULL;
	if (json_object_object_get_ex(root, "api_key", &inner))
		return inner;
	if (json_object_object_get_ex(root, "data", &inner) &&
		json_object_is_type(inner, json_type_array) &&
		json_object_array_length(inner) > 0)
		return json_object_array_get_idx(inner, 0);
	return root;
}

/*
 * Make a performed answer at least `bytes` bytes long while keeping its
 * shape: an extra "x_padding" string member in the padding target, or,
 * for an empty bare list, whitespace inside the brackets.  A bodiless
 * answer (204) becomes 200 with a JSON object.  The padding is spliced
 * into the serialized text so that json-c never holds it.
 */
static void
make_oversized(const RkFault *f, RkReply *reply)
{
	static const char marker[] = "\"x_padding\":\"";
	json_object *target;
	char	   *body;
	char	   *at;
	size_t		head;
	size_t		pad = (size_t) f->bytes;

	if (reply->json == NULL)
		rk_reply_json(reply, reply->status == 204 ? 200 : reply->status,
					  json_object_new_object());
	target = padding_target(reply->json);
	if (target != NULL)
		json_object_object_add(target, "x_padding", json_object_new_string(""));
	rk_reply_finish(reply);
	at = target ? strstr(reply->body, marker) : NULL;
	head = at ? (size_t) (at - reply->body) + strlen(marker) : 1;
	body = rk_xmalloc(reply->body_len + pad + 1);
	memcpy(body, reply->body, head);
	memset(body + head, at ? 'x' : ' ', pad);
	memcpy(body + head + pad, reply->body + head, reply->body_len - head + 1);
	free(reply->body);
	reply->body = body;
	reply->body_len += pad;
}

/*
 * Turn a reply's JSON text back into a tree so that it can be edited
 * (handlers write key objects as text for speed).
 */
static void
ensure_tree(RkReply *reply)
{
	json_object *tree;

	if (reply->json != NULL || reply->body == NULL)
		return;
	tree = rk_json_parse(reply->body, reply->body_len);
	if (tree == NULL)
		return;
	free(reply->body);
	reply->body = NULL;
	reply->body_len = 0;
	reply->json = tree;
}

/*
 * Replace every placeholder member in a serialized answer by the fault's
 * member text (see rk_fault_key_members).  The body is json-c's output,
 * NUL-terminated and with no NUL inside.
 */
static void
put_back_members(const char *members, RkReply *reply)
{
	const char *ph = MEMBERS_PLACEHOLDER;
	size_t		phlen = strlen(ph);
	size_t		mlen = strlen(members);
	const char *src = reply->body;
	const char *at;
	RkBuf		out;

	if (reply->body == NULL)
		return;
	rk_buf_init(&out, reply->body_len + 256);
	while ((at = strstr(src, ph)) != NULL)
	{
		rk_buf_append(&out, src, (size_t) (at - src));
		rk_buf_append(&out, members, mlen);
		src = at + phlen;
	}
	rk_buf_puts(&out, src);
	free(reply->body);
	reply->body = out.data;
	reply->body_len = out.len;
}

/*
 * Change a performed answer's JSON (oversized, invalid_utf8, wrong_types).
 * Other kinds leave it alone; a status fault with apply replaces it.
 */
void
rk_fault_transform(const RkFault *fault, RkReply *reply)
{
	if (edits_tree(fault->kind))
		ensure_tree(reply);
	switch (fault->kind)
	{
		case RK_FAULT_STATUS:
			rk_fault_reply(fault, reply);
			break;
		case RK_FAULT_OVERSIZED:
			make_oversized(fault, reply);
			break;
		case RK_FAULT_INVALID_UTF8:
			each_key_object(reply->json, break_utf8);
			break;
		case RK_FAULT_WRONG_TYPES:
			each_key_object(reply->json, break_types);
			break;
		default:
			break;
	}
	if (edits_tree(fault->kind) && fault->members)
	{
		rk_reply_finish(reply);
		put_back_members(fault->members, reply);
	}
}

/*
 * Change how a serialized answer is sent (truncate, reset, delay_body,
 * drop).  A bodiless answer that must be cut becomes a 200 with "{}", so
 * that there is something to cut.  A dropped answer keeps its status (the
 * request log records it) but none of it is sent.
 */
void
rk_fault_deliver(const RkFault *fault, RkReply *reply)
{
	if (fault->kind == RK_FAULT_DROP)
	{
		reply->delivery = RK_DELIVER_DROP;
		return;
	}
	if (fault->kind != RK_FAULT_TRUNCATE && fault->kind != RK_FAULT_RESET &&
		fault->kind != RK_FAULT_DELAY_BODY)
		return;
	if (reply->body_len < 2 && fault->kind != RK_FAULT_DELAY_BODY)
	{
		rk_reply_raw(reply, reply->status == 204 ? 200 : reply->status,
					 "application/json", "{}", 2);
	}
	switch (fault->kind)
	{
		case RK_FAULT_TRUNCATE:
			reply->body_len /= 2;
			break;
		case RK_FAULT_RESET:
			reply->delivery = RK_DELIVER_RESET;
			break;
		default:
			reply->delivery = RK_DELIVER_DELAY_BODY;
			reply->delay_ms = fault->ms;
			break;
	}
}
