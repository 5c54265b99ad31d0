/*-------------------------------------------------------------------------
 *
 * keys.c
 *		The key operations both SQL surfaces share: list page by page, get
 *		many, create many, update, delete.  Each ends in an RkOutcome per
 *		key and never throws for a remote failure; errors.c turns an outcome
 *		into an ERROR (or a WARNING) for the caller that decides to.
 *
 * This is the one place that decides what a failed attempt means for an
 * operation.  The retry policy itself (http.c) resends a read, an update or
 * a delete after any transient failure, but a create only when it certainly
 * did not arrive.  When a create may have arrived:
 *	- timed out before any answer began: the service may still be working
 *	  on it, so it is not sent again; the outcome says the key may appear,
 *	  with the service's time the create was sent, for a follow-up check;
 *	- the service finished with it but its answer is lost (the connection
 *	  closed or timed out after the answer began, a 5xx, an unreadable
 *	  2xx): the keys of that exact name that
 *	  the service created since this call's first attempt, on the service's
 *	  own clock, are this call's (the call holds an advisory lock on the
 *	  server and name, so no other session of the database creates that
 *	  name meanwhile); they are deleted, since nobody holds their token,
 *	  and the create is sent again within max_retries.
 *
 * Results are palloc'd in the caller's memory context.  Counters of what
 * was sent and received go to an optional RkStats, for EXPLAIN ANALYZE.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"
#include "utils/timestamp.h"

#define MAX_KEY_ID_LEN 128
#define RK_CLOCK_PRECISION_US (100 * 1000)	/* how well a lost create's window is known */
#define RK_CLOCK_POLL_MS 40
#define RK_CLOCK_POLLS 30
#define RK_LOCK_CLASS 3			/* advisory lock field4: ours, not the SQL functions' 1 and 2 */

/* The state of a listing between pages. */
struct RkLister
{
	const RkConfig *config;
	RkListFilter filter;
	char	   *cursor;			/* the last key of the page before, or NULL */
	int			limit;			/* of the page being fetched */
	bool		done;
	RkBudget   *budget;
	RkStats    *stats;
};

/*
 * The retry budget of one SQL call.
 */
RkBudget
rk_keys_budget(const RkConfig *config)
{
	RkBudget	budget = {.wait_left_ms = config->retry_max_wait_ms};

	return budget;
}

/*
 * A new request.
 */
static RkRequest *
new_request(const char *method, char *path, char *body, RkResend resend)
{
	RkRequest  *request = palloc0(sizeof(RkRequest));

	request->method = method;
	request->path = path;
	request->body = body;
	request->resend = resend;
	return request;
}

/*
 * Performs requests concurrently (one when n is 1) and counts the attempts
 * they made.
 */
static void
perform(const RkConfig *config, RkRequest **requests, int n, RkBudget *budget,
		RkStats *stats)
{
	int		   *before = palloc(sizeof(int) * Max(n, 1));

	for (int i = 0; i < n; i++)
		before[i] = requests[i]->attempts;
	rk_http_execute(config, requests, n, budget);
	for (int i = 0; stats != NULL && i < n; i++)
	{
		int			made = requests[i]->attempts - before[i];

		stats->requests += made;
		stats->retries += Max(made - 1, 0);
		stats->bytes += requests[i]->response_len;
	}
	pfree(before);
}

/*
 * Whether a request ended with a 2xx answer.
 */
static bool
succeeded(const RkRequest *r)
{
	return r->transport == RK_TRANSPORT_OK && r->status >= 200 && r->status < 300;
}

/*
 * Whether a request ended with 404 Not Found.
 */
static bool
not_found(const RkRequest *r)
{
	return r->transport == RK_TRANSPORT_OK && r->status == 404;
}

/*
 * The failure a transport problem is.
 */
static RkFailure
transport_failure(RkTransport transport)
{
	switch (transport)
	{
		case RK_TRANSPORT_CONNECT:
			return RK_FAIL_CONNECT;
		case RK_TRANSPORT_TLS:
			return RK_FAIL_TLS;
		case RK_TRANSPORT_TIMEOUT:
			return RK_FAIL_TIMEOUT;
		case RK_TRANSPORT_LOST:
			return RK_FAIL_LOST;
		case RK_TRANSPORT_TOO_LARGE:
			return RK_FAIL_TOO_LARGE;
		default:
			return RK_FAIL_INTERNAL;
	}
}

/*
 * What a failed request said: the remote message, or a description of an
 * answer that has none.
 */
static char *
remote_message(const RkConfig *config, const RkRequest *r)
{
	char	   *message;

	if (r->transport != RK_TRANSPORT_OK)
		return psprintf("%s.", r->transport_detail != NULL ? r->transport_detail : "no answer");
	if (r->response_len == 0)
		return psprintf("The answer was HTTP status %ld with an empty body.", r->status);
	message = config->dialect->error_message(r->response, r->response_len);
	if (message != NULL)
	{
		size_t		len = strlen(message);

		return psprintf("The server said: %s%s", message,
						len > 0 && strchr(".!?", message[len - 1]) != NULL ? "" : ".");
	}
	return psprintf("The answer was HTTP status %ld with a %zu-byte %s body that carries no error message.",
					r->status, r->response_len,
					r->content_type != NULL ? r->content_type : "untyped");
}

/*
 * Starts an outcome about a request, in the current memory context: it
 * may outlive the request (a create's is freed once it is settled).
 */
static void
outcome_start(RkOutcome *outcome, const RkRequest *r, const char *key_id)
{
	memset(outcome, 0, sizeof(RkOutcome));
	outcome->kind = RK_OUTCOME_DONE;
	outcome->method = r->method;
	outcome->path = pstrdup(r->path);
	outcome->key_id = key_id != NULL ? pstrdup(key_id) : NULL;
	outcome->attempts = r->attempts;
	outcome->retry_after = r->retry_after;
}

/*
 * The outcome of a request that did not succeed.  A write that reached the
 * service and whose answer is lost or a server failure may have been
 * applied; transient failures may be tried again later; the rest are
 * refusals.
 */
static void
outcome_failed(const RkConfig *config, const RkRequest *r, const char *key_id,
			   RkOutcome *outcome)
{
	const RkDialect *dialect = config->dialect;
	bool		write = strcmp(r->method, "GET") != 0;

	outcome_start(outcome, r, key_id);
	outcome->remote_message = remote_message(config, r);
	outcome->wait_refused = r->wait_refused;
	if (r->transport != RK_TRANSPORT_OK)
	{
		outcome->failure = transport_failure(r->transport);
		outcome->kind = write && r->sent && r->transport != RK_TRANSPORT_TLS ?
			RK_OUTCOME_MAYBE_APPLIED :
			r->transport == RK_TRANSPORT_TLS || r->transport == RK_TRANSPORT_TOO_LARGE ?
			RK_OUTCOME_REJECTED : RK_OUTCOME_RETRY_LATER;
	}
	else
	{
		outcome->status = r->status;
		outcome->failure = dialect->classify_status(r->status, key_id != NULL);
		outcome->hint = dialect->hint(outcome->failure);
		if (r->status == 404 && key_id != NULL)
			outcome->kind = RK_OUTCOME_NOT_FOUND;
		else if (write && r->status >= 500 && !dialect->status_is_unprocessed(r->status))
			outcome->kind = RK_OUTCOME_MAYBE_APPLIED;
		else if (dialect->status_is_transient(r->status) || r->status >= 500)
			outcome->kind = RK_OUTCOME_RETRY_LATER;
		else
			outcome->kind = RK_OUTCOME_REJECTED;
	}
	if (outcome->kind == RK_OUTCOME_RETRY_LATER)
		outcome->retry_at = GetCurrentTimestamp() +
			(int64) (Max(r->retry_after, 1.0) * USECS_PER_SEC);
}

/*
 * The outcome of a 2xx answer that breaks the contract.
 */
static void
outcome_broken(const RkRequest *r, const char *key_id, char *problem, RkOutcome *outcome)
{
	outcome_start(outcome, r, key_id);
	outcome->kind = RK_OUTCOME_BROKEN_ANSWER;
	outcome->failure = RK_FAIL_BROKEN_ANSWER;
	outcome->status = r->status;
	outcome->problem = problem;
}

/*
 * Checks a key id before it goes into a URL path: only RFC 3986 unreserved
 * characters, and not "." or "..", so that no id can reach another endpoint.
 */
void
rk_keys_check_id(const char *id)
{
	size_t		len = strlen(id);
	bool		ok = len > 0 && len <= MAX_KEY_ID_LEN &&
		strcmp(id, ".") != 0 && strcmp(id, "..") != 0;

	for (const char *p = id; ok && *p; p++)
		ok = isalnum((unsigned char) *p) || *p == '-' || *p == '_' || *p == '.' || *p == '~';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key id \"%s\"", id),
				 errdetail("A key id is 1 to %d letters, digits, \"-\", \"_\", \".\" or \"~\".",
						   MAX_KEY_ID_LEN)));
}

/*
 * The API's spelling of a status column value.  An unrecognized status is
 * an error, or NULL with missing_ok.
 */
const char *
rk_keys_status_value(const RkConfig *config, const char *status, bool missing_ok)
{
	const char *value = config->dialect->status_value(status);

	if (value == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status \"%s\"", status),
				 errhint("Use active, disabled or revoked.")));
	return value;
}

/*
 * Errors unless the API can spell a permission mode column value.
 */
void
rk_keys_check_permission_mode(const RkConfig *config, const char *mode)
{
	if (config->dialect->permission_mode_value(mode) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid permission mode \"%s\"", mode),
				 errhint("Use all, read_only or restricted.")));
}

/*
 * A copy of a string in the current memory context, or NULL.
 */
static char *
copy_or_null(const char *s)
{
	return s != NULL ? pstrdup(s) : NULL;
}

/*
 * Starts a listing, in the current memory context, which must last until
 * the listing is over; nothing is sent until the first rk_keys_list_next.
 */
RkLister *
rk_keys_list_start(const RkConfig *config, const RkListFilter *filter, RkBudget *budget,
				   RkStats *stats)
{
	RkLister   *lister = palloc0(sizeof(RkLister));

	lister->config = config;
	lister->filter = *filter;
	lister->filter.status = copy_or_null(filter->status);
	lister->filter.search = copy_or_null(filter->search);
	lister->filter.project_id = copy_or_null(filter->project_id);
	lister->limit = config->page_size;
	if (filter->first_limit > 0 && filter->first_limit < config->page_size)
		lister->limit = filter->first_limit;
	lister->budget = budget;
	lister->stats = stats;
	return lister;
}

/*
 * Fetches the next page of a listing into *page (allocated in the current
 * memory context, which may be a short-lived one: the lister keeps its own
 * state in lister_cxt, where it was started).  Returns false once the
 * listing is over, or when a page could not be had: then *outcome says why.
 */
bool
rk_keys_list_next(RkLister *lister, MemoryContext lister_cxt, RkPage *page, RkOutcome *outcome)
{
	const RkConfig *config = lister->config;
	RkRequest  *request;
	char	   *problem = NULL;
	bool		last;

	outcome->kind = RK_OUTCOME_DONE;
	if (lister->done)
		return false;

	request = new_request("GET", config->dialect->list_path(&lister->filter, lister->limit,
															lister->cursor),
						  NULL, RK_RESEND_TRANSIENT);
	perform(config, &request, 1, lister->budget, lister->stats);
	if (!succeeded(request))
	{
		outcome_failed(config, request, NULL, outcome);
		return false;
	}
	if (!config->dialect->parse_page(request->response, request->response_len, page,
									 !lister->filter.skip_attrs, &problem))
	{
		outcome_broken(request, NULL, problem, outcome);
		return false;
	}
	if (lister->stats != NULL)
		lister->stats->pages++;

	last = config->dialect->page_is_last(page, lister->limit);
	if (!last && lister->cursor != NULL &&
		strcmp(lister->cursor, page->keys[page->nkeys - 1].id) == 0)
	{
		outcome_broken(request, NULL,
					   pstrdup("The listing did not advance past the key given as its cursor."),
					   outcome);
		return false;
	}
	if (lister->cursor != NULL)
		pfree(lister->cursor);
	lister->cursor = last ? NULL : MemoryContextStrdup(lister_cxt, page->keys[page->nkeys - 1].id);
	lister->done = last;
	lister->limit = config->page_size;
	return true;
}

/*
 * Reads the key a single-key answer holds, or sets a broken outcome.
 */
static bool
read_key(const RkConfig *config, const RkRequest *r, const char *key_id, RkKey *key,
		 bool with_token, bool with_attrs, RkOutcome *outcome)
{
	char	   *problem = NULL;

	if (config->dialect->parse_key(r->response, r->response_len, key, with_token, with_attrs,
								   &problem))
		return true;
	outcome_broken(r, key_id, problem, outcome);
	return false;
}

/*
 * Sends requests about keys (one each) concurrently and reads the keys they
 * answer with into keys[], with an outcome each.
 */
static void
key_requests(const RkConfig *config, const char *method, char **ids, char **bodies, int n,
			 RkKey *keys, RkOutcome *outcomes, RkBudget *budget, RkStats *stats)
{
	RkRequest **requests = palloc(sizeof(RkRequest *) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		rk_keys_check_id(ids[i]);
		requests[i] = new_request(method, config->dialect->key_path(ids[i]),
								  bodies != NULL ? bodies[i] : NULL, RK_RESEND_TRANSIENT);
	}
	perform(config, requests, n, budget, stats);
	for (int i = 0; i < n; i++)
	{
		if (!succeeded(requests[i]))
			outcome_failed(config, requests[i], ids[i], &outcomes[i]);
		else if (read_key(config, requests[i], ids[i], &keys[i], false, true, &outcomes[i]))
			outcome_start(&outcomes[i], requests[i], ids[i]);
	}
}

/*
 * Reads keys concurrently: keys[i] and outcomes[i] for ids[i]; a key that
 * does not exist is RK_OUTCOME_NOT_FOUND.
 */
void
rk_keys_get_many(const RkConfig *config, char **ids, int n, RkKey *keys, RkOutcome *outcomes,
				 RkBudget *budget, RkStats *stats)
{
	key_requests(config, "GET", ids, NULL, n, keys, outcomes, budget, stats);
}

/*
 * Changes the given fields of keys concurrently: ids[i] gets args[i];
 * keys[i] and outcomes[i] say how it ended.  When no args give a field,
 * the keys are read.
 */
void
rk_keys_update_many(const RkConfig *config, char **ids, const RkUpdateArgs *args, int n,
					RkKey *keys, RkOutcome *outcomes, RkBudget *budget, RkStats *stats)
{
	char	  **bodies = palloc(sizeof(char *) * Max(n, 1));
	bool		reads = true;

	for (int i = 0; i < n; i++)
	{
		const RkUpdateArgs *a = &args[i];

		reads = reads && a->name == NULL && a->active < 0 && a->expires_at == NULL &&
			!a->clear_expires_at;
		bodies[i] = config->dialect->update_body(a);
	}
	key_requests(config, reads ? "GET" : "PATCH", ids, reads ? NULL : bodies, n, keys,
				 outcomes, budget, stats);
}

/*
 * Changes the given fields of a key (with none, reads it).
 */
void
rk_keys_update(const RkConfig *config, const char *id, const RkUpdateArgs *args, RkKey *key,
			   RkOutcome *outcome, RkBudget *budget, RkStats *stats)
{
	char	   *ids[1] = {(char *) id};

	rk_keys_update_many(config, ids, args, 1, key, outcome, budget, stats);
}

/*
 * Deletes keys concurrently, outcomes[i] for ids[i].  A delete whose
 * earlier attempt may have been carried out and whose retry then finds the
 * key gone counts as done by us; otherwise a missing key is
 * RK_OUTCOME_NOT_FOUND.
 */
void
rk_keys_delete_many(const RkConfig *config, char **ids, int n, RkOutcome *outcomes,
					RkBudget *budget, RkStats *stats)
{
	RkRequest **requests = palloc(sizeof(RkRequest *) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		rk_keys_check_id(ids[i]);
		requests[i] = new_request("DELETE", config->dialect->key_path(ids[i]), NULL,
								  RK_RESEND_TRANSIENT);
	}
	perform(config, requests, n, budget, stats);
	for (int i = 0; i < n; i++)
	{
		RkRequest  *r = requests[i];
		char	   *problem = NULL;

		if (not_found(r) && r->earlier_maybe_applied)
			outcome_start(&outcomes[i], r, ids[i]);
		else if (!succeeded(r))
			outcome_failed(config, r, ids[i], &outcomes[i]);
		else if (!config->dialect->parse_empty(r->response, r->response_len, &problem))
			outcome_broken(r, ids[i], problem, &outcomes[i]);
		else
			outcome_start(&outcomes[i], r, ids[i]);
	}
}

/*
 * Deletes a key; see rk_keys_delete_many.
 */
void
rk_keys_delete(const RkConfig *config, const char *id, RkOutcome *outcome, RkBudget *budget,
			   RkStats *stats)
{
	char	   *ids[1] = {(char *) id};

	rk_keys_delete_many(config, ids, 1, outcome, budget, stats);
}

/*
 * The advisory lock of one name on one server in this database.
 */
static void
name_lock_tag(LOCKTAG *tag, const RkConfig *config, const char *name)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, config->serverid,
						 hash_bytes((const unsigned char *) name, strlen(name)),
						 RK_LOCK_CLASS);
}

/*
 * Takes the advisory lock that serializes the creates of one name on one
 * server within this database: until the end of the transaction, or,
 * outside one (the worker), until unlock_name.
 */
static void
lock_name(const RkConfig *config, const char *name)
{
	LOCKTAG		tag;

	name_lock_tag(&tag, config, name);
	(void) LockAcquire(&tag, ExclusiveLock, !IsTransactionState(), false);
}

/*
 * Releases the lock of lock_name when it was taken outside a transaction.
 */
static void
unlock_name(const RkConfig *config, const char *name)
{
	LOCKTAG		tag;

	if (IsTransactionState())
		return;
	name_lock_tag(&tag, config, name);
	(void) LockRelease(&tag, ExclusiveLock, true);
}

/*
 * Takes the lock of lock_name if it is free (or this transaction holds it
 * already): then no open transaction of another session is creating that
 * name.  Returns false when another holds it.
 */
bool
rk_keys_try_lock_name(const RkConfig *config, const char *name)
{
	LOCKTAG		tag;

	name_lock_tag(&tag, config, name);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* What became of a create whose answer was lost, once looked up. */
typedef enum RkLookup
{
	RK_LOOKUP_CLEAN,			/* no key of ours is left: send it again */
	RK_LOOKUP_UNSURE			/* could not tell, or could not delete */
} RkLookup;

/*
 * Learns the service's clock to within RK_CLOCK_PRECISION_US, if it is not
 * known that well yet: Date headers have whole seconds, so small requests
 * spaced RK_CLOCK_POLL_MS apart go out until the service's second ticks
 * between two of them (a second at most; a backend that has created a key
 * knows its clock from the key's creation time already).
 */
static void
learn_clock(const RkConfig *config, RkClock *clock, RkBudget *budget, RkStats *stats)
{
	RkListFilter filter = {.skip_attrs = true};

	rk_http_clock(config, clock);
	for (int i = 0; i < RK_CLOCK_POLLS; i++)
	{
		RkRequest  *r;

		if (clock->known && clock->offset_high_us - clock->offset_low_us <= RK_CLOCK_PRECISION_US)
			return;
		if (i > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 RK_CLOCK_POLL_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		r = new_request("GET", config->dialect->list_path(&filter, 1, NULL), NULL,
						RK_RESEND_TRANSIENT);
		perform(config, &r, 1, budget, stats);
		rk_http_clock(config, clock);
	}
}

/*
 * Looks up the keys a create whose answer was lost may have made: keys of
 * exactly its name that the service created at or after since_local, read
 * on the service's clock (its least possible offset from ours), and
 * deletes them.  Nobody holds their token.  Keys of that name created
 * before are another creator's and are left alone; the clock is known to
 * RK_CLOCK_PRECISION_US, which bounds how soon before this call another
 * creator's key may be taken for this call's.  Returns RK_LOOKUP_UNSURE
 * (with *outcome) when the listing or a delete failed, or the service's
 * clock is unknown.
 */
static RkLookup
remove_lost_create(const RkConfig *config, const char *name, TimestampTz since_local,
				   RkOutcome *outcome, RkBudget *budget, RkStats *stats)
{
	RkListFilter filter = {.search = name};
	RkLister   *lister = rk_keys_list_start(config, &filter, budget, stats);
	List	   *ours = NIL;
	RkPage		page;
	RkClock		clock;
	TimestampTz since;
	ListCell   *lc;

	while (rk_keys_list_next(lister, CurrentMemoryContext, &page, outcome))
	{
		for (int i = 0; i < page.nkeys; i++)
		{
			if (page.keys[i].name != NULL && strcmp(page.keys[i].name, name) == 0)
				ours = lappend(ours, &page.keys[i]);
		}
	}
	if (outcome->kind != RK_OUTCOME_DONE)
		return RK_LOOKUP_UNSURE;
	if (ours == NIL)
		return RK_LOOKUP_CLEAN;

	learn_clock(config, &clock, budget, stats);
	since = since_local + clock.offset_low_us;
	foreach(lc, ours)
	{
		RkKey	   *key = (RkKey *) lfirst(lc);

		if (!clock.known || key->created_at == NULL)
		{
			outcome->kind = RK_OUTCOME_MAYBE_APPLIED;
			return RK_LOOKUP_UNSURE;
		}
		if (rk_rows_timestamp(key->created_at) < since)
			continue;
		rk_keys_delete(config, key->id, outcome, budget, stats);
		if (outcome->kind != RK_OUTCOME_DONE && outcome->kind != RK_OUTCOME_NOT_FOUND)
			return RK_LOOKUP_UNSURE;
	}
	return RK_LOOKUP_CLEAN;
}

/*
 * Whether a create's failed attempt may still be carried out by the service
 * after the call gives up: it timed out before the answer began.
 */
static bool
may_still_appear(const RkRequest *r)
{
	return r->transport == RK_TRANSPORT_TIMEOUT && !r->answer_started;
}

/*
 * Whether a create's failed attempt may have made a key that the service is
 * done with: the answer was lost or cut short, or a server error came back.
 */
static bool
answer_lost(const RkConfig *config, const RkRequest *r)
{
	if (r->transport == RK_TRANSPORT_LOST || r->transport == RK_TRANSPORT_TOO_LARGE)
		return r->sent;
	if (r->transport == RK_TRANSPORT_TIMEOUT)
		return r->answer_started;
	return r->transport == RK_TRANSPORT_OK && r->status >= 500 &&
		!config->dialect->status_is_unprocessed(r->status);
}

/*
 * Marks a create's failed outcome as one that may have left a key behind,
 * named name, for the follow-up check; a timeout says the key may still
 * appear.
 */
static void
outcome_unsettled(const RkConfig *config, const RkRequest *r, const char *name,
				  TimestampTz first_sent, RkOutcome *outcome)
{
	RkClock		clock;

	outcome_failed(config, r, NULL, outcome);
	rk_http_clock(config, &clock);
	if (may_still_appear(r))
		outcome->failure = RK_FAIL_MAY_APPEAR;
	outcome->kind = RK_OUTCOME_MAYBE_APPLIED;
	outcome->followup_name = pstrdup(name);
	outcome->service_since = first_sent + (clock.known ? clock.offset_low_us : 0);
}

/*
 * A create in flight: its request (first, so that the window's request
 * leads back to it), the name, and when it was first sent.
 */
typedef struct RkCreate
{
	RkRequest	request;
	char	   *name;
	int			tag;
	int			attempts_counted;
	TimestampTz first_sent;
	dlist_node	node;
} RkCreate;

/*
 * Creates kept in flight: up to width at once, on one request window.
 * Each create is settled as its request ends (see the file header); one
 * still in flight when the stream's memory goes (an error unwound the
 * statement) is recorded for the follow-up check, as a create that timed
 * out is.
 */
struct RkCreates
{
	const RkConfig *config;
	RkConfig	owner;			/* a copy whose ids the follow-up record uses */
	RkWindow   *window;
	bool		with_attrs;
	RkBudget   *budget;
	RkStats    *stats;
	MemoryContext cxt;			/* the creates in flight */
	dlist_head	open;
	int64		clock_offset_us;	/* the service's clock ahead of ours, at least */
	MemoryContextCallback abandon;
};

/*
 * Memory context callback: records the creates still in flight for the
 * follow-up check.  Never raises.
 */
static void
abandon_creates(void *arg)
{
	RkCreates  *c = (RkCreates *) arg;
	dlist_iter	iter;

	dlist_foreach(iter, &c->open)
	{
		RkCreate   *cr = dlist_container(RkCreate, node, iter.cur);
		RkOutcome	outcome = {.followup_name = cr->name};
		TimestampTz since = cr->first_sent != 0 ? cr->first_sent : cr->request.sent_at;

		outcome.service_since = since + c->clock_offset_us;
		rk_followup_note(&c->owner, &outcome);
	}
	dlist_init(&c->open);
}

/*
 * Opens a stream of creates, up to width in flight at once; keys are read
 * with their attrs when with_attrs.  It lives in a child of the current
 * memory context: deleting that abandons what is in flight.
 */
RkCreates *
rk_keys_creates_begin(const RkConfig *config, int width, bool with_attrs, RkBudget *budget,
					  RkStats *stats)
{
	RkCreates  *c = palloc0(sizeof(RkCreates));
	RkClock		clock;
	MemoryContext oldcxt;

	c->config = config;
	c->owner.serverid = config->serverid;
	c->owner.userid = config->userid;
	c->with_attrs = with_attrs;
	c->budget = budget;
	c->stats = stats;
	dlist_init(&c->open);
	c->cxt = AllocSetContextCreate(CurrentMemoryContext, "routerkeys creates",
								   ALLOCSET_SMALL_SIZES);
	c->abandon.func = abandon_creates;
	c->abandon.arg = c;
	MemoryContextRegisterResetCallback(c->cxt, &c->abandon);
	rk_http_clock(config, &clock);
	c->clock_offset_us = clock.known ? clock.offset_low_us : 0;
	oldcxt = MemoryContextSwitchTo(c->cxt);
	c->window = rk_http_window_begin(config, width, budget);
	MemoryContextSwitchTo(oldcxt);
	return c;
}

/*
 * Whether width creates are in flight: the next send must wait for one to
 * end (rk_keys_creates_next).
 */
bool
rk_keys_creates_full(const RkCreates *c)
{
	return rk_http_window_full(c->window);
}

/*
 * Sends a create, tagged for the caller; the stream must not be full.
 */
void
rk_keys_creates_send(RkCreates *c, const RkCreateArgs *args, int tag)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(c->cxt);
	RkCreate   *cr = palloc0(sizeof(RkCreate));

	cr->name = pstrdup(args->name);
	cr->tag = tag;
	cr->request.method = "POST";
	cr->request.path = pstrdup(c->config->dialect->create_path);
	cr->request.body = c->config->dialect->create_body(args);
	cr->request.resend = RK_RESEND_UNSENT;
	MemoryContextSwitchTo(oldcxt);

	lock_name(c->config, cr->name);
	dlist_push_tail(&c->open, &cr->node);
	rk_http_window_send(c->window, &cr->request);
}

/*
 * Counts the attempts a create made since they were last counted.
 */
static void
count_attempts(RkCreates *c, RkCreate *cr)
{
	RkRequest  *r = &cr->request;
	int			made = r->attempts - cr->attempts_counted;

	cr->attempts_counted = r->attempts;
	if (c->stats == NULL)
		return;
	c->stats->requests += made;
	c->stats->retries += Max(made - 1, 0);
	c->stats->bytes += r->response_len;
}

/*
 * Judges a create whose request has ended: true when it is settled (key
 * and outcome filled), false when it is to be sent again, no key of it
 * being left.
 */
static bool
create_ended(RkCreates *c, RkCreate *cr, RkKey *key, RkOutcome *outcome)
{
	const RkConfig *config = c->config;
	RkRequest  *r = &cr->request;

	if (cr->first_sent == 0 && r->sent)
		cr->first_sent = r->sent_at;
	if (succeeded(r) && read_key(config, r, NULL, key, true, c->with_attrs, outcome))
	{
		outcome_start(outcome, r, NULL);
		if (key->created_at != NULL)
			rk_http_clock_observe(config, rk_rows_timestamp(key->created_at),
								  r->sent_at, r->answered_at);
		return true;
	}
	if (may_still_appear(r))
	{
		outcome_unsettled(config, r, cr->name, cr->first_sent, outcome);
		return true;
	}
	if (!succeeded(r))
		outcome_failed(config, r, NULL, outcome);
	if (!succeeded(r) && !answer_lost(config, r))
		return true;
	if (remove_lost_create(config, cr->name, cr->first_sent, outcome, c->budget,
						   c->stats) == RK_LOOKUP_UNSURE)
	{
		outcome_unsettled(config, r, cr->name, cr->first_sent, outcome);
		return true;
	}

	/*
	 * No key of this create is left.  Sent again at once, within
	 * max_retries; a call that may not wait at all (the worker, which backs
	 * off itself) is told to try again later instead.
	 */
	if (r->attempts > config->max_retries || (c->budget->wait_left_ms <= 0 && !succeeded(r)))
	{
		if (succeeded(r))
			outcome_broken(r, NULL, pstrdup("The answer to a create could not be read; the key it made was deleted."), outcome);
		else
		{
			outcome_failed(config, r, NULL, outcome);
			outcome->kind = RK_OUTCOME_RETRY_LATER;
		}
		return true;
	}
	return false;
}

/*
 * Waits for a create of the stream to be settled: *key receives the
 * answer, token included, *outcome how it ended, *tag the tag it was sent
 * with.  At most one key per create is left, and only one whose token is
 * returned.  Returns false when no create is in flight.
 */
bool
rk_keys_creates_next(RkCreates *c, RkKey *key, RkOutcome *outcome, int *tag)
{
	RkRequest  *r;

	while ((r = rk_http_window_next(c->window)) != NULL)
	{
		RkCreate   *cr = (RkCreate *) r;

		count_attempts(c, cr);
		memset(key, 0, sizeof(RkKey));
		if (!create_ended(c, cr, key, outcome))
		{
			rk_http_window_send(c->window, r);
			continue;
		}
		*tag = cr->tag;
		unlock_name(c->config, cr->name);
		dlist_delete(&cr->node);
		pfree(cr->name);
		pfree(cr->request.path);
		pfree(cr->request.body);
		pfree(cr);
		return true;
	}
	return false;
}

/*
 * Creates keys, concurrently when there are several; keys[i] receives the
 * answer to args[i], token included (and attrs with with_attrs), and
 * outcomes[i] how it ended.  Caller is responsible for permission modes
 * the API can spell.
 */
void
rk_keys_create_many(const RkConfig *config, const RkCreateArgs *args, int n, RkKey *keys,
					bool with_attrs, RkOutcome *outcomes, RkBudget *budget, RkStats *stats)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "routerkeys create",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	RkCreates  *c = rk_keys_creates_begin(config, Max(n, 1), with_attrs, budget, stats);
	RkKey		key;
	RkOutcome	outcome;
	int			i;

	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		for (i = 0; i < n; i++)
			rk_keys_creates_send(c, &args[i], i);
		while (rk_keys_creates_next(c, &key, &outcome, &i))
		{
			keys[i] = key;
			outcomes[i] = outcome;
		}
	}
	PG_FINALLY();
	{
		MemoryContextDelete(cxt);
	}
	PG_END_TRY();
}

/*
 * The keys of exactly this name that the service created at or after
 * since (on its clock; 0: any time), as a list of RkKey *.  Returns NIL
 * with *outcome when the listing failed.
 */
List *
rk_keys_named(const RkConfig *config, const char *name, TimestampTz since,
			  RkOutcome *outcome, RkBudget *budget)
{
	RkListFilter filter = {.search = name, .skip_attrs = true};
	RkLister   *lister = rk_keys_list_start(config, &filter, budget, NULL);
	List	   *named = NIL;
	RkPage		page;

	while (rk_keys_list_next(lister, CurrentMemoryContext, &page, outcome))
	{
		for (int i = 0; i < page.nkeys; i++)
		{
			RkKey	   *key = &page.keys[i];

			if (key->name == NULL || strcmp(key->name, name) != 0)
				continue;
			if (since != 0 && key->created_at != NULL && rk_rows_timestamp(key->created_at) < since)
				continue;
			named = lappend(named, key);
		}
	}
	return outcome->kind == RK_OUTCOME_DONE ? named : NIL;
}
