/*-------------------------------------------------------------------------
 *
 * fuzz_contract.c
 *		The fuzzing entry point over contract.c's response parsing: each input
 *		is one response body, read as a key (with and without a token), as a
 *		page (with and without attrs), as the answer to a delete and as an
 *		error body, and every result is checked.
 *
 * What is checked, beyond the sanitizers:
 *	- every returned string is valid UTF-8 text; a parsed key has an id, a
 *	  status exactly when it has an active flag, attrs exactly when asked
 *	  for, and attrs that jsonb_out would print as JSON that jsonb_in takes
 *	  back (no NaN or infinity: pgjson.c is the model), without the token
 *	  after a create;
 *	- a problem is a full sentence, and all reads of one body agree on
 *	  whether it is JSON and on the columns of its keys;
 *	- JSON the model accepts is never called invalid (a plain body of at
 *	  most RK_JSON_MAX_DEPTH levels), and a body a read accepts is one the
 *	  model accepts (json-c's harmless leniencies aside);
 *	- no ERROR escapes for any body: a body that breaks the contract is a
 *	  problem text, never an ERROR;
 *	- the create and update bodies built from a parsed key are JSON that
 *	  gives the same values back.
 * Then each read runs again with an out-of-memory ERROR injected at one of
 * its allocation points (chosen by a hash of the input), which must reach
 * the caller with every json-c object released; LeakSanitizer checks that
 * after each input, when the arena of palloc'd chunks has been freed.
 *
 *-------------------------------------------------------------------------
 */
#include "pgshim.h"

#include "routerkeys.h"

#include <stdarg.h>
#include <stdint.h>

#include <json-c/json.h>

#include "pgjson.h"

#define RK_JSON_MAX_DEPTH 64	/* as in contract.c */

/* The reads of a body. */
typedef enum Read
{
	READ_KEY,
	READ_CREATED_KEY,
	READ_PAGE,
	READ_PAGE_COLUMNS,
	READ_EMPTY,
	READ_ERROR,
	NUM_READS
} Read;

static const char *const read_names[] = {
	"rk_contract_parse_key", "rk_contract_parse_key with_token",
	"rk_contract_parse_page with_attrs", "rk_contract_parse_page without attrs",
	"rk_contract_parse_empty", "rk_contract_error_message"
};

/* One input and the model's verdicts on it. */
typedef struct Input
{
	const char *body;
	size_t		len;
	PgJsonVerdict strict;
	PgJsonVerdict lenient;
	PgJsonInfo	strict_info;
	PgJsonInfo	lenient_info;
	uint64_t	hash;
} Input;

/* What one read gave. */
typedef struct Outcome
{
	bool		ok;
	char	   *problem;
	RkKey		key;
	RkPage		page;
	char	   *message;
	long		points;			/* allocation points passed */
} Outcome;

/* The string members of RkKey, for checks and comparisons. */
static const struct
{
	const char *name;
	size_t		offset;
}			key_strings[] = {
#define KEY_STRING(field) {#field, offsetof(RkKey, field)}
	KEY_STRING(id), KEY_STRING(name), KEY_STRING(status), KEY_STRING(token_prefix),
	KEY_STRING(permission_mode), KEY_STRING(project_id), KEY_STRING(owner_type),
	KEY_STRING(expires_at), KEY_STRING(created_at), KEY_STRING(updated_at),
	KEY_STRING(last_used_at), KEY_STRING(created_by_id), KEY_STRING(updated_by_id),
	KEY_STRING(source), KEY_STRING(token)
#undef KEY_STRING
};

static const Input *current_input;
static const char *current_read;

static char *
key_string(const RkKey *key, int i)
{
	return *(char **) ((const char *) key + key_strings[i].offset);
}

/*
 * Reports a broken invariant with what was being done, and aborts so that
 * libFuzzer keeps the input.
 */
static void pg_attribute_printf(1, 2) pg_attribute_noreturn()
finding(const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, "\n==== routerkeys fuzz finding ====\nread: %s\n",
			current_read ? current_read : "(none)");
	if (current_input)
		fprintf(stderr, "input: %zu bytes; model: strict %s (%s), lenient %s, depth %d\n",
				current_input->len, pgjson_verdict_name(current_input->strict),
				current_input->strict_info.where ? current_input->strict_info.where : "-",
				pgjson_verdict_name(current_input->lenient),
				current_input->strict_info.depth);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputs("\n================================\n", stderr);
	fflush(stderr);
	abort();
}

/* Checks a returned string: NUL-terminated, valid UTF-8. */
static void
check_text(const char *what, const char *s)
{
	size_t		len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (!pgshim_utf8_valid(s, len))
		finding("%s is not valid UTF-8 (%zu bytes): \"%.200s\"", what, len, s);
}

/* Whether a problem says the body is not JSON (parse_json's texts). */
static bool
rejects_json(const char *problem)
{
	return strncmp(problem, "The response body ", 18) == 0;
}

/* A problem is a full sentence, as DETAIL wants. */
static void
check_problem(const char *problem)
{
	size_t		len;

	if (problem == NULL)
		finding("a read failed without a problem text");
	check_text("the problem", problem);
	len = strlen(problem);
	if (len < 2 || !(problem[0] >= 'A' && problem[0] <= 'Z') || problem[len - 1] != '.')
		finding("the problem is not a full sentence: \"%s\"", problem);
}

/*
 * Reads JSON with json-c as deep as contract.c reads it (json_tokener_parse
 * stops at 32 levels), without counting an allocation point: the harness
 * calls the real json_tokener_new_ex, not the shim's wrapper.
 */
extern json_tokener *__real_json_tokener_new_ex(int depth);

static json_object *
read_back(const char *json)
{
	json_tokener *tok = __real_json_tokener_new_ex(RK_JSON_MAX_DEPTH + 1);
	json_object *root;

	if (tok == NULL)
		finding("json-c could not allocate a tokener");
	root = json_tokener_parse_ex(tok, json, (int) strlen(json) + 1);
	if (json_tokener_get_error(tok) != json_tokener_success)
		finding("json-c cannot read back \"%.200s\": %s", json,
				json_tokener_error_desc(json_tokener_get_error(tok)));
	json_tokener_free(tok);
	return root;
}

/* Whether a JSON object has a member, by json-c. */
static bool
has_member(const char *json, const char *member)
{
	json_object *root = read_back(json);
	bool		found;

	found = json_object_object_get_ex(root, member, NULL);
	json_object_put(root);
	return found;
}

/* The invariants of a key read successfully. */
static void
check_key(const RkKey *key, bool with_token, bool with_attrs)
{
	PgJsonInfo	info;
	PgJsonVerdict verdict;
	const char *attrs;

	for (int i = 0; i < (int) lengthof(key_strings); i++)
		check_text(key_strings[i].name, key_string(key, i));
	if (key->id == NULL || key->id[0] == '\0')
		finding("a key was read without an id");
	if (key->active < -1 || key->active > 1)
		finding("active is %d", key->active);
	if ((key->status == NULL) != (key->active == -1))
		finding("status \"%s\" with active %d", key->status ? key->status : "(null)", key->active);
	if (!with_token && key->token != NULL)
		finding("a token was read from a body that is not a create");
	if (!with_attrs)
	{
		if (key->attrs != NULL)
			finding("attrs were built although not asked for");
		return;
	}
	if (key->attrs == NULL)
		finding("a key was read without attrs");
	attrs = pgshim_jsonb_text(key->attrs);
	verdict = pgjson_check(attrs, strlen(attrs), false, &info);
	if (verdict != PGJSON_OK)
		finding("attrs is not a jsonb that jsonb_in would give back (%s: %s): %.300s",
				pgjson_verdict_name(verdict), info.where, attrs);
	if (with_token && has_member(attrs, "token"))
		finding("attrs of a created key hold the token: %.300s", attrs);
}

/* Two reads of one key give the same columns (token and attrs aside). */
static void
check_same_key(const char *reads, const RkKey *a, const RkKey *b)
{
	if (a->active != b->active)
		finding("active differs between the reads %s", reads);
	for (int i = 0; i < (int) lengthof(key_strings); i++)
	{
		const char *x = key_string(a, i);
		const char *y = key_string(b, i);

		if (strcmp(key_strings[i].name, "token") == 0)
			continue;
		if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
			finding("%s differs between the reads %s", key_strings[i].name, reads);
	}
}

/* A request body: JSON the model accepts, where member has value (or not). */
static void
check_body(const char *what, const char *body, const char *member, const char *value)
{
	PgJsonInfo	info;
	PgJsonVerdict verdict = pgjson_check(body, strlen(body), false, &info);
	json_object *root;
	json_object *got;

	if (verdict != PGJSON_OK)
		finding("the %s body is not JSON (%s): %.300s", what, pgjson_verdict_name(verdict), body);
	root = read_back(body);
	if (!json_object_object_get_ex(root, member, &got) != (value == NULL) ||
		(value && (!json_object_is_type(got, json_type_string) ||
				   strcmp(json_object_get_string(got), value) != 0)))
	{
		json_object_put(root);
		finding("the %s body does not give \"%s\" back as \"%s\": %.300s",
				what, member, value ? value : "(absent)", body);
	}
	json_object_put(root);
}

/* Builds the bodies of a create and an update from a key read back. */
static void
check_round_trip(const RkKey *key)
{
	RkCreateArgs create = {
		.name = key->name ? key->name : "unnamed",
		.expires_at = key->expires_at,
		.project_id = key->project_id,
		.permission_mode = key->permission_mode
	};
	RkUpdateArgs update = {
		.name = key->name,
		.active = key->active,
		.expires_at = key->expires_at,
		.clear_expires_at = key->expires_at == NULL
	};

	check_body("create", rk_contract_create_body(&create), "name", create.name);
	check_body("update", rk_contract_update_body(&update), "name", update.name);
}

/* One read of the body, and the checks of what it gave. */
static void
exercise(Read read, const Input *in, Outcome *out)
{
	memset(out, 0, sizeof(Outcome));
	switch (read)
	{
		case READ_KEY:
		case READ_CREATED_KEY:
			out->ok = rk_contract_parse_key(in->body, in->len, &out->key,
											read == READ_CREATED_KEY, true, &out->problem);
			if (out->ok)
			{
				check_key(&out->key, read == READ_CREATED_KEY, true);
				check_round_trip(&out->key);
			}
			else
				check_problem(out->problem);
			break;
		case READ_PAGE:
		case READ_PAGE_COLUMNS:
			out->ok = rk_contract_parse_page(in->body, in->len, &out->page,
											 read == READ_PAGE, &out->problem);
			if (out->page.nkeys < 0 || (out->page.nkeys > 0 && out->page.keys == NULL))
				finding("a page of %d keys at %p", out->page.nkeys, (void *) out->page.keys);
			for (int i = 0; i < out->page.nkeys; i++)
				check_key(&out->page.keys[i], false, read == READ_PAGE);
			if (out->ok && out->page.keys == NULL)
				finding("a page was read without a keys array");
			if (out->page.has_more && !out->page.has_more_known)
				finding("has_more is set but not known");
			if (!out->ok)
				check_problem(out->problem);
			break;
		case READ_EMPTY:
			out->ok = rk_contract_parse_empty(in->body, in->len, &out->problem);
			if (!out->ok)
				check_problem(out->problem);
			else if (in->len == 0 && out->problem != NULL)
				finding("an empty answer read with a problem");
			break;
		case READ_ERROR:
			out->message = rk_contract_error_message(in->body, in->len);
			out->ok = out->message != NULL;
			check_text("the error message", out->message);
			if (out->message != NULL && out->message[0] == '\0')
				finding("an empty error message");
			break;
		case NUM_READS:
			break;
	}
}

/* Reports an ERROR that was not injected. */
static void pg_attribute_noreturn()
unexpected_error(void)
{
	char		sqlstate[6];

	pgshim_unpack_sqlstate(pgshim_error_code(), sqlstate);
	finding("ERROR %s escaped: %s\n  raised at %s", sqlstate,
			pgshim_error_message(), pgshim_error_location());
}

/* A read as the backend would run it; no ERROR may escape. */
static void
run_clean(Read read, const Input *in, Outcome *out)
{
	long		before = pgshim_alloc_points();

	current_read = read_names[read];
	PG_TRY();
	{
		exercise(read, in, out);
	}
	PG_CATCH();
	{
		unexpected_error();
	}
	PG_END_TRY();
	out->points = pgshim_alloc_points() - before;
}

/*
 * The read again, with allocation point k of it failing: the out-of-memory
 * ERROR must reach the caller, and nothing of json-c may stay allocated.
 */
static void
run_injected(Read read, const Input *in, long k)
{
	Outcome		scratch;
	volatile bool raised = false;
	sigjmp_buf *saved_stack = PG_exception_stack;

	pgshim_fail_at(pgshim_alloc_points() + k);
	PG_TRY();
	{
		exercise(read, in, &scratch);
	}
	PG_CATCH();
	{
		if (pgshim_error_code() != ERRCODE_OUT_OF_MEMORY)
			unexpected_error();
		raised = true;
		FlushErrorState();
	}
	PG_END_TRY();
	pgshim_fail_at(-1);
	if (!raised)
		finding("allocation point %ld of %s failed, but no ERROR reached the caller",
				k, read_names[read]);
	if (PG_exception_stack != saved_stack)
		finding("PG_exception_stack was not restored");
}

/* The cross-checks between the reads and against the model. */
static void
check_against_model(const Input *in, const Outcome *outcomes)
{
	const Outcome *key = &outcomes[READ_KEY];
	const Outcome *page = &outcomes[READ_PAGE];
	bool		key_rejects = !key->ok && rejects_json(key->problem);
	bool		page_rejects = !page->ok && rejects_json(page->problem);

	current_read = "all";
	if (key_rejects != page_rejects ||
		(key_rejects && strcmp(key->problem, page->problem) != 0))
		finding("the key and page reads disagree on the JSON: \"%s\" / \"%s\"",
				key->problem ? key->problem : "(ok)", page->problem ? page->problem : "(ok)");
	if (in->len > 0 && !outcomes[READ_EMPTY].ok &&
		rejects_json(outcomes[READ_EMPTY].problem) != key_rejects)
		finding("the key and delete reads disagree on the JSON: \"%s\" / \"%s\"",
				key->problem ? key->problem : "(ok)", outcomes[READ_EMPTY].problem);
	if (key->ok && outcomes[READ_CREATED_KEY].ok)
		check_same_key("with and without token", &key->key, &outcomes[READ_CREATED_KEY].key);
	if (page->ok && outcomes[READ_PAGE_COLUMNS].ok)
	{
		if (page->page.nkeys != outcomes[READ_PAGE_COLUMNS].page.nkeys)
			finding("a page has %d keys with attrs, %d without", page->page.nkeys,
					outcomes[READ_PAGE_COLUMNS].page.nkeys);
		for (int i = 0; i < page->page.nkeys; i++)
			check_same_key("of a page with and without attrs", &page->page.keys[i],
						   &outcomes[READ_PAGE_COLUMNS].page.keys[i]);
	}

	/* valid JSON, plain and not too deep, is never called invalid */
	if (in->strict == PGJSON_OK && in->strict_info.plain_numbers &&
		in->strict_info.depth <= RK_JSON_MAX_DEPTH && key_rejects &&
		strncmp(key->problem, "The response body is not valid JSON", 35) == 0)
		finding("valid JSON was called invalid: %s", key->problem);

	/* what a read accepts is JSON, json-c's harmless leniencies aside */
	for (int r = 0; r < NUM_READS; r++)
	{
		if (!outcomes[r].ok || (r == READ_EMPTY && in->len == 0))
			continue;
		if (in->lenient != PGJSON_OK)
			finding("%s accepted a body that is not JSON (%s: %s)", read_names[r],
					pgjson_verdict_name(in->lenient), in->lenient_info.where);
	}
}

/* FNV-1a, to pick the allocation point to fail. */
static uint64_t
hash_bytes(const uint8_t *data, size_t size)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	return h;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Input		in;
	Outcome		outcomes[NUM_READS];

	in.body = (const char *) data;
	in.len = size;
	in.strict = pgjson_check(in.body, size, false, &in.strict_info);
	in.lenient = pgjson_check(in.body, size, true, &in.lenient_info);
	in.hash = hash_bytes(data, size);
	current_input = &in;

	for (int r = 0; r < NUM_READS; r++)
		run_clean((Read) r, &in, &outcomes[r]);
	check_against_model(&in, outcomes);
	for (int r = 0; r < NUM_READS; r++)
	{
		current_read = read_names[r];
		if (outcomes[r].points > 0)
			run_injected((Read) r, &in, (long) (in.hash % (uint64_t) outcomes[r].points));
	}

	pgshim_reset();
	current_input = NULL;
	current_read = NULL;
	return 0;
}
