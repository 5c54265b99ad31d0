/*-------------------------------------------------------------------------
 *
 * routerkeys.h
 *		Types and cross-module prototypes of the routerkeys extension.
 *
 * The modules, one responsibility each; dependencies run downwards only:
 *	functions.c		the SQL-callable functions          } orchestrate
 *	fdw.c			the foreign table                    }
 *	xact.c			the router follows COMMIT, ROLLBACK and savepoints: the
 *					one transaction callback and the effects it tracks
 *	reconcile.c		routerkeys.reconcile(): the router against a local table
 *	outbox.c		durable provisioning's intents: enqueue_*, provision(),
 *					retry, cancel, and the worker's reads and writes of the
 *					outbox table
 *	worker.c		the background worker that applies committed intents,
 *					its launcher, and waking it at commit
 *	followup.c		the durable record of remote effects left unsettled
 *	keys.c			the key operations, returning an RkOutcome; the one
 *					place that decides what a failed attempt means for the
 *					operation (a create's lost answer, a delete's 404)
 *	rows.c			a key as SQL columns: the one column table
 *	errors.c		the only place that turns an RkOutcome into an ERROR or
 *					a WARNING: SQLSTATE, message, detail, hint
 *	http.c			the only file that includes libcurl: transfers, the
 *					connection cache, timeouts, the size cap, the one retry
 *					policy
 *	dialect_orq.c	everything the remote API defines (paths, parameters,
 *					bodies, answers of both generations, enums, what a
 *					status means), behind the RkDialect table of functions
 *	options.c		the FDW validator, the option table, RkConfig per
 *					(server, role), cached
 *	json.c			strict JSON (json-c) and JSON to jsonb with exact numbers
 *	routerkeys.c	module start: _PG_init, GUCs, the launcher's registration,
 *					the utility hook
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROUTERKEYS_H
#define ROUTERKEYS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"

#define ROUTERKEYS_VERSION "0.2"

typedef struct RkDialect RkDialect;

/*
 * Everything one call needs to know about a server and the calling role's user
 * mapping.  The provisioning key lives only here and in the catalog, and is
 * never copied into a message.
 */
typedef struct RkConfig
{
	Oid			serverid;
	Oid			umid;			/* the user mapping in use (the role's or PUBLIC's) */
	Oid			userid;			/* the role the mapping was looked up for */
	char	   *servername;
	char	   *url;			/* base URL, without a trailing slash */
	const RkDialect *dialect;	/* the remote API this server speaks */
	int			connect_timeout_ms;
	int			timeout_ms;		/* one attempt, connection included */
	int			max_retries;
	int			retry_max_wait_ms;	/* total time one call waits between attempts */
	int			page_size;
	int64		max_response_bytes;
	int			max_concurrency;	/* the worker's requests in flight at once */
	int			max_attempts;	/* the worker's attempts at an intent */
	char	   *ca_file;		/* NULL: the system's trust store */
	char	   *provisioning_key;
	const char *key_option;		/* the mapping option the key came from */
} RkConfig;

/* How an attempt ended when it did not produce an HTTP answer. */
typedef enum RkTransport
{
	RK_TRANSPORT_OK,			/* an HTTP answer arrived (any status) */
	RK_TRANSPORT_CONNECT,		/* no connection: the request was never sent */
	RK_TRANSPORT_TIMEOUT,		/* timeout_ms elapsed after the request was sent */
	RK_TRANSPORT_LOST,			/* the connection closed before the whole answer */
	RK_TRANSPORT_TLS,			/* TLS handshake or certificate verification */
	RK_TRANSPORT_TOO_LARGE,		/* the body exceeded max_response_bytes */
	RK_TRANSPORT_INTERNAL		/* libcurl could not run the transfer at all */
} RkTransport;

/*
 * Which failures the HTTP layer's retry policy may answer with another
 * attempt; the operation decides (keys.c), the policy applies (http.c).
 */
typedef enum RkResend
{
	RK_RESEND_UNSENT,			/* only when the request certainly did not arrive */
	RK_RESEND_TRANSIENT			/* also after any transient failure */
} RkResend;

/*
 * One HTTP request and, after rk_http_execute, the outcome of its last
 * attempt.  The caller fills method, path, body and resend; the rest is
 * filled in.  All strings are palloc'd.
 */
/* Requests kept in flight across calls (http.c). */
typedef struct RkWindow RkWindow;

typedef struct RkRequest
{
	const char *method;			/* "GET", "POST", "PATCH" or "DELETE" */
	char	   *path;			/* path and query string, appended to the url */
	char	   *body;			/* JSON request body, or NULL */
	RkResend	resend;

	long		status;			/* HTTP status, 0 when there was no answer */
	RkTransport transport;
	char	   *transport_detail;	/* libcurl's description of the failure */
	char	   *response;		/* NUL-terminated answer body */
	size_t		response_len;
	char	   *content_type;	/* of the answer, or NULL */
	int			attempts;		/* attempts made, across calls of rk_http_execute */
	double		retry_after;	/* the last Retry-After in seconds, or -1 */
	bool		wait_refused;	/* a Retry-After longer than the budget left */
	bool		sent;			/* the last attempt's request left this process */
	bool		answer_started; /* ... and the status line of an answer came back */
	bool		earlier_maybe_applied;	/* an earlier attempt may have taken effect */
	TimestampTz sent_at;		/* local clock, when the last attempt started */
	TimestampTz answered_at;	/* local clock, when it ended */
} RkRequest;

/*
 * What one SQL call may still spend on retries: the waits between attempts
 * of all its requests share retry_max_wait_ms.
 */
typedef struct RkBudget
{
	int64		wait_left_ms;
} RkBudget;

/* The service's clock relative to ours, as far as answers have shown it. */
typedef struct RkClock
{
	bool		known;
	int64		offset_low_us;	/* service time - local time >= this */
	int64		offset_high_us; /* ... and <= this */
	TimestampTz read_at;		/* the last reading */
} RkClock;

/* A Router API key as read from the remote API; all strings may be NULL. */
typedef struct RkKey
{
	char	   *id;
	char	   *name;
	int			active;			/* 1, 0, or -1 when unknown */
	char	   *status;			/* "active", "disabled", "revoked", or as sent */
	char	   *token_prefix;
	char	   *permission_mode;
	char	   *project_id;
	char	   *owner_type;
	char	   *expires_at;		/* RFC 3339 text as sent */
	char	   *created_at;
	char	   *updated_at;
	char	   *last_used_at;
	char	   *created_by_id;
	char	   *updated_by_id;
	char	   *source;
	char	   *token;			/* the raw token: set only by a create */
	Jsonb	   *attrs;			/* the whole remote object, or NULL when not built */
} RkKey;

/* One page of a listing. */
typedef struct RkPage
{
	int			nkeys;
	RkKey	   *keys;
	bool		has_more_known; /* the page said whether more follow */
	bool		has_more;
} RkPage;

/* What a create sends; NULL fields are omitted.  Values are column values. */
typedef struct RkCreateArgs
{
	const char *name;
	const char *expires_at;		/* RFC 3339 */
	const char *project_id;		/* NULL: all projects */
	const char *permission_mode;	/* a column value: all, read_only, restricted */
} RkCreateArgs;

/* What an update sends; NULL / -1 fields are omitted (a sparse PATCH). */
typedef struct RkUpdateArgs
{
	const char *name;
	int			active;			/* 1, 0, or -1 to leave as is */
	const char *expires_at;
	bool		clear_expires_at;
} RkUpdateArgs;

/*
 * What a listing asks the API to filter on, as column values; NULL: no
 * filter.  For EXPLAIN a value may be a {placeholder}.
 */
typedef struct RkListFilter
{
	const char *status;			/* a status column value */
	bool		active_only;
	const char *search;			/* a substring of the name */
	const char *project_id;
	int			first_limit;	/* > 0: a smaller first page (a LIMIT) */
	bool		skip_attrs;		/* the caller does not need RkKey.attrs */
} RkListFilter;

/* The conditions a foreign scan may hand to the API. */
typedef enum RkFilterOp
{
	RK_FILTER_EQUAL,			/* column = value */
	RK_FILTER_SUBSTRING,		/* column LIKE '%value%' */
	RK_FILTER_IS_TRUE			/* a boolean column is true */
} RkFilterOp;

/* Counters of remote work, for EXPLAIN ANALYZE. */
typedef struct RkStats
{
	int64		requests;		/* attempts, retries included */
	int64		retries;
	int64		pages;
	int64		bytes;			/* answer bytes received */
} RkStats;

/*
 * What a failed request means, whatever the API spelled: the dialect maps a
 * status to one of these, the transport failures map to the others, and
 * errors.c gives each its SQLSTATE and message.
 */
typedef enum RkFailure
{
	RK_FAIL_NONE,
	RK_FAIL_INVALID_REQUEST,	/* the API rejected what was sent */
	RK_FAIL_AUTHENTICATION,		/* the provisioning key was refused */
	RK_FAIL_FORBIDDEN,			/* the key may not do this */
	RK_FAIL_NO_SUCH_KEY,		/* 404 about a key */
	RK_FAIL_NO_ENDPOINT,		/* 404 about anything else */
	RK_FAIL_CONFLICT,
	RK_FAIL_RATE_LIMITED,
	RK_FAIL_UNAVAILABLE,		/* a gateway or the service is down */
	RK_FAIL_SERVER_ERROR,		/* the service failed */
	RK_FAIL_OTHER_STATUS,
	RK_FAIL_CONNECT,
	RK_FAIL_TLS,
	RK_FAIL_TIMEOUT,
	RK_FAIL_LOST,
	RK_FAIL_TOO_LARGE,
	RK_FAIL_INTERNAL,
	RK_FAIL_BROKEN_ANSWER,		/* a 2xx answer that breaks the contract */
	RK_FAIL_MAY_APPEAR			/* a create timed out: the key may still appear */
} RkFailure;

/* How an operation ended, for the caller to act on. */
typedef enum RkOutcomeKind
{
	RK_OUTCOME_DONE,
	RK_OUTCOME_NOT_FOUND,		/* the key does not exist */
	RK_OUTCOME_RETRY_LATER,		/* transient: may succeed at retry_at */
	RK_OUTCOME_MAYBE_APPLIED,	/* may have taken effect at the service */
	RK_OUTCOME_REJECTED,		/* the service refused; retrying will not help */
	RK_OUTCOME_BROKEN_ANSWER	/* the service answered something unreadable */
} RkOutcomeKind;

/*
 * The classified result of a key operation.  Never thrown: errors.c turns it
 * into an ERROR, or a WARNING on a cleanup path.  Strings are palloc'd.
 */
typedef struct RkOutcome
{
	RkOutcomeKind kind;
	RkFailure	failure;
	long		status;			/* the HTTP status, 0 without one */
	const char *method;			/* the request it is about, for CONTEXT */
	char	   *path;
	char	   *key_id;			/* the key the request was about, or NULL */
	char	   *remote_message; /* the service's message, or a description */
	char	   *problem;		/* what was wrong with a broken answer */
	const char *hint;			/* the dialect's advice, or NULL */
	int			attempts;
	double		retry_after;	/* seconds the service asked to wait, or -1 */
	bool		wait_refused;	/* ... longer than retry_max_wait_ms allows */
	TimestampTz retry_at;		/* RETRY_LATER: when to try again */
	char	   *followup_name;	/* a create that may have left a key of this name */
	TimestampTz service_since;	/* ... on the service's clock, since the create was sent */
} RkOutcome;

typedef struct RkLister RkLister;

/* Creates kept in flight across calls (keys.c). */
typedef struct RkCreates RkCreates;

/* What an intent of the outbox asks for. */
typedef enum RkIntentOp
{
	RK_INTENT_CREATE,
	RK_INTENT_UPDATE,
	RK_INTENT_DELETE,
	RK_INTENT_CHECK				/* a follow-up: remove keys of a name nobody holds */
} RkIntentOp;

/* What came of an attempt at an intent, for the outbox to record. */
typedef enum RkIntentEnd
{
	RK_INTENT_DONE,
	RK_INTENT_AGAIN,			/* try again at retry_at */
	RK_INTENT_DEAD				/* retrying will not help, or out of attempts */
} RkIntentEnd;

/*
 * One intent as the worker works on it: what the outbox holds, then what
 * the attempt came to.  Strings are palloc'd; the token is wiped once
 * delivered.
 */
typedef struct RkIntent
{
	int64		id;
	RkIntentOp	op;
	Oid			role;			/* enqueued_by: the worker acts as this role */
	char	   *server;
	char	   *key_name;
	char	   *key_id;			/* given, or what the last done create of key_name made */
	RkCreateArgs create;
	RkUpdateArgs update;
	TimestampTz enqueued_at;
	TimestampTz since;			/* a check: on the service's clock; 0: enqueued_at */
	bool		uncertain;		/* a key of key_name nobody holds may exist */
	bool		settling;		/* a look-up of an intent that is over (settle_at) */
	int			attempts;
	Oid			target;			/* where the key id goes, or InvalidOid */
	char	   *target_key;		/* the row there, JSON */
	char	   *key_column;
	char	   *deliver_to;		/* the token delivery function, or NULL */
	RkConfig   *config;			/* NULL when it could not be had: see end */
	List	   *keep_ids;		/* keys of key_name that done creates made */

	RkIntentEnd end;
	TimestampTz retry_at;
	bool		may_appear;		/* a create timed out: a key may appear later */
	bool		uncounted;		/* not sent (the server paused), or rate limited */
	char	   *sqlstate;
	char	   *message;
	char	   *result_key_id;
	char	   *token;
} RkIntent;

/* The columns of routerkeys.key, in order; routerkeys.created_key adds token. */
typedef enum RkColumn
{
	RK_COL_ID,
	RK_COL_NAME,
	RK_COL_ACTIVE,
	RK_COL_STATUS,
	RK_COL_TOKEN_PREFIX,
	RK_COL_PERMISSION_MODE,
	RK_COL_PROJECT_ID,
	RK_COL_OWNER_TYPE,
	RK_COL_EXPIRES_AT,
	RK_COL_CREATED_AT,
	RK_COL_UPDATED_AT,
	RK_COL_LAST_USED_AT,
	RK_COL_CREATED_BY_ID,
	RK_COL_UPDATED_BY_ID,
	RK_COL_SOURCE,
	RK_COL_ATTRS,
	RK_COL_TOKEN
} RkColumn;

#define RK_KEY_NCOLUMNS RK_COL_TOKEN	/* columns of routerkeys.key */

/*
 * The remote API of one kind of gateway: everything it defines, so that a
 * second gateway is one new file.  Functions return palloc'd results and
 * report a broken answer through *problem; none of them sends anything.
 */
struct RkDialect
{
	const char *name;

	/* Requests: paths and bodies. */
	char	   *(*list_path) (const RkListFilter *filter, int limit, const char *cursor);
	char	   *(*describe_list) (const RkListFilter *filter, int limit);
	char	   *(*key_path) (const char *id);
	const char *(*describe_key_request) (const char *method);
	const char *create_path;
	char	   *(*create_body) (const RkCreateArgs *args);
	char	   *(*update_body) (const RkUpdateArgs *args);

	/* Answers. */
	bool		(*parse_key) (const char *body, size_t len, RkKey *key, bool with_token,
							  bool with_attrs, char **problem);
	bool		(*parse_page) (const char *body, size_t len, RkPage *page, bool with_attrs,
							   char **problem);
	bool		(*parse_empty) (const char *body, size_t len, char **problem);
	char	   *(*error_message) (const char *body, size_t len);
	bool		(*page_is_last) (const RkPage *page, int limit);

	/* What a status means. */
	RkFailure	(*classify_status) (long status, bool about_key);
	bool		(*status_is_transient) (long status);
	bool		(*status_is_unprocessed) (long status);
	const char *(*hint) (RkFailure failure);

	/* Filters the API evaluates, and the spelling of column values. */
	bool		(*can_filter) (RkColumn column, RkFilterOp op);
	const char *(*status_value) (const char *status);
	const char *(*permission_mode_value) (const char *mode);
};

/* in routerkeys.c */
extern char *rk_default_server;

/* in options.c */
extern Oid	rk_options_resolve_server(const char *servername);
extern RkConfig *rk_options_load(Oid serverid, Oid userid);
extern RkConfig *rk_options_copy(const RkConfig *config);
extern int	rk_options_int(List *options, const char *name);
extern const RkDialect *rk_options_dialect(ForeignServer *server);

/* in dialect_orq.c */
extern const RkDialect rk_dialect_orq;
extern void rk_dialect_append_escaped(StringInfo buf, const char *text);

/* in http.c */
extern void rk_http_init(void);
extern void rk_http_execute(const RkConfig *config, RkRequest **requests, int nrequests,
							RkBudget *budget);
extern void rk_http_prepare(const RkConfig *config);
extern RkWindow *rk_http_window_begin(const RkConfig *config, int width, RkBudget *budget);
extern bool rk_http_window_full(const RkWindow *w);
extern void rk_http_window_send(RkWindow *w, RkRequest *request);
extern RkRequest *rk_http_window_next(RkWindow *w);
extern bool rk_http_url_acceptable(const char *url, const char **reason);
extern void rk_http_clock(const RkConfig *config, RkClock *clock);
extern double rk_http_request_ms(Oid serverid);
extern void rk_http_clock_observe(const RkConfig *config, TimestampTz service_time,
								  TimestampTz sent, TimestampTz received);

/* in errors.c */
#if PG_VERSION_NUM >= 180000
extern pg_noreturn void rk_error_raise(const RkConfig *config, const RkOutcome *outcome);
#else
extern void rk_error_raise(const RkConfig *config, const RkOutcome *outcome) pg_attribute_noreturn();
#endif
extern void rk_error_warn(const RkConfig *config, const RkOutcome *outcome);
extern char *rk_error_without(const char *text, const char *secret, const char *mark);
extern void rk_error_describe(const RkConfig *config, const RkOutcome *outcome,
							  char **sqlstate, char **message);

/* in rows.c */
extern int	rk_rows_column_index(const char *name);
extern const char *rk_rows_column_name(int index);
extern Oid	rk_rows_column_type(int index);
extern void rk_rows_values(const RkKey *key, const bool *wanted, Datum *values, bool *nulls);
extern char *rk_rows_rfc3339(TimestampTz ts);
extern TimestampTz rk_rows_timestamp(const char *text);

/* in keys.c */
extern RkBudget rk_keys_budget(const RkConfig *config);
extern void rk_keys_check_id(const char *id);
extern bool rk_keys_try_lock_name(const RkConfig *config, const char *name);
extern const char *rk_keys_status_value(const RkConfig *config, const char *status,
										bool missing_ok);
extern void rk_keys_check_permission_mode(const RkConfig *config, const char *mode);
extern RkLister *rk_keys_list_start(const RkConfig *config, const RkListFilter *filter,
									RkBudget *budget, RkStats *stats);
extern bool rk_keys_list_next(RkLister *lister, MemoryContext lister_cxt, RkPage *page,
							  RkOutcome *outcome);
extern void rk_keys_get_many(const RkConfig *config, char **ids, int n, RkKey *keys,
							 RkOutcome *outcomes, RkBudget *budget, RkStats *stats);
extern RkCreates *rk_keys_creates_begin(const RkConfig *config, int width, bool with_attrs,
										RkBudget *budget, RkStats *stats);
extern bool rk_keys_creates_full(const RkCreates *c);
extern void rk_keys_creates_send(RkCreates *c, const RkCreateArgs *args, int tag);
extern bool rk_keys_creates_next(RkCreates *c, RkKey *key, RkOutcome *outcome, int *tag);
extern void rk_keys_create_many(const RkConfig *config, const RkCreateArgs *args, int n,
								RkKey *keys, bool with_attrs, RkOutcome *outcomes,
								RkBudget *budget, RkStats *stats);
extern void rk_keys_update(const RkConfig *config, const char *id, const RkUpdateArgs *args,
						   RkKey *key, RkOutcome *outcome, RkBudget *budget, RkStats *stats);
extern List *rk_keys_named(const RkConfig *config, const char *name, TimestampTz since,
						   RkOutcome *outcome, RkBudget *budget);
extern void rk_keys_update_many(const RkConfig *config, char **ids, const RkUpdateArgs *args,
								int n, RkKey *keys, RkOutcome *outcomes, RkBudget *budget,
								RkStats *stats);
extern void rk_keys_delete(const RkConfig *config, const char *id, RkOutcome *outcome,
						   RkBudget *budget, RkStats *stats);
extern void rk_keys_delete_many(const RkConfig *config, char **ids, int n, RkOutcome *outcomes,
								RkBudget *budget, RkStats *stats);

/* An entry of the follow-up record, as the worker takes it. */
typedef struct RkFollowup
{
	bool		is_create;		/* a create that may have left a key named what */
	Oid			serverid;
	Oid			roleid;
	TimestampTz since;			/* on the service's clock; 0 for a delete */
	char	   *what;			/* the name, or the key id to delete */
} RkFollowup;

/* The record, held locked by the worker while it takes entries. */
typedef struct RkFollowupFile
{
	int			fd;
	StringInfo	others;			/* the entries of other databases */
} RkFollowupFile;

/* in followup.c */
extern List *rk_followup_take(RkFollowupFile *file);
extern void rk_followup_release(RkFollowupFile *file, bool taken);
extern void rk_followup_note(const RkConfig *config, const RkOutcome *outcome);
extern void rk_followup_check(const RkConfig *config, const RkOutcome *outcome);
extern void rk_followup_note_delete(const RkConfig *config, const char *id);

/* in xact.c */
extern bool rk_transactional;
extern void rk_xact_wake_worker(void);
extern void rk_xact_created(const RkConfig *config, const char *id);
extern bool rk_xact_overlay(const RkConfig *config, RkKey *key);
extern void rk_xact_update(const RkConfig *config, const char *id, const RkUpdateArgs *args,
						   const RkKey *current, RkKey *key, RkOutcome *outcome,
						   RkBudget *budget, RkStats *stats);
extern void rk_xact_delete(const RkConfig *config, const char *id, const RkKey *current,
						   RkOutcome *outcome, RkBudget *budget, RkStats *stats);

/* in outbox.c */
extern bool rk_outbox_exists(void);
extern void rk_outbox_recover(void);
extern List *rk_outbox_claim(int limit, List *paused_servers);
extern void rk_outbox_record(List *intents);
extern TimestampTz rk_outbox_next_due(void);
extern List *rk_outbox_known_ids(const char *server, const char *key_name);
extern void rk_outbox_add_checks(List *followups);
extern bool rk_outbox_try(void (*fn) (RkIntent *intent), RkIntent *intent, const char *what);

/* in worker.c */
extern int	rk_worker_settle_ms;
extern int	rk_worker_idle_ms;
extern void rk_worker_stop(Oid dboid);
extern void rk_worker_register_launcher(void);
extern void rk_worker_wake(void);
extern TimestampTz rk_worker_backoff(int attempts);

#endif							/* ROUTERKEYS_H */
