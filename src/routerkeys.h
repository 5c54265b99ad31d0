/*-------------------------------------------------------------------------
 *
 * routerkeys.h
 *		Types and cross-module prototypes of the routerkeys extension.
 *
 * The modules, one responsibility each:
 *	routerkeys.c	module start: _PG_init, GUCs, global library set-up
 *	options.c		the FDW validator, option tables, server resolution, RkConfig
 *	http.c			the only file that includes libcurl: transfers, connection
 *					cache, timeouts, size cap, retries
 *	contract.c		the only file that includes json-c: request bodies out, key
 *					records, pages and error messages in
 *	errors.c		failed requests to SQLSTATE, message, detail and hint
 *	keys.c			the key operations (list, get, create, update, delete) and
 *					key records as columns, shared by the two SQL surfaces
 *	functions.c		the SQL-callable functions
 *	fdw.c			the foreign table: scans, pushdown, modify, import
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROUTERKEYS_H
#define ROUTERKEYS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"

#define ROUTERKEYS_VERSION "0.1"

/*
 * Everything one call needs to know about a server and the calling role's user
 * mapping, read from the catalogs at the start of the call.  Allocated in the
 * caller's memory context; the provisioning key lives only here and in the
 * catalog, and is never copied into a message.
 */
typedef struct RkConfig
{
	Oid			serverid;
	Oid			umid;			/* the user mapping in use (the role's or PUBLIC's) */
	Oid			userid;			/* the role the mapping was looked up for */
	char	   *servername;
	char	   *url;			/* base URL, without a trailing slash */
	int			connect_timeout_ms;
	int			timeout_ms;		/* one attempt, connection included */
	int			max_retries;
	int			retry_max_wait_ms;	/* total time spent waiting between attempts */
	int			page_size;
	int64		max_response_bytes;
	char	   *ca_file;		/* NULL: the system's trust store */
	char	   *provisioning_key;
} RkConfig;

/* How a transfer ended when it did not produce an HTTP response. */
typedef enum RkTransport
{
	RK_TRANSPORT_OK,			/* an HTTP response arrived (any status) */
	RK_TRANSPORT_CONNECT,		/* no connection: the request was never sent */
	RK_TRANSPORT_TIMEOUT,		/* timeout_ms elapsed */
	RK_TRANSPORT_LOST,			/* connection reset or closed mid-transfer */
	RK_TRANSPORT_TLS,			/* TLS handshake or certificate verification */
	RK_TRANSPORT_TOO_LARGE,		/* body exceeded max_response_bytes */
	RK_TRANSPORT_OTHER
} RkTransport;

/*
 * One HTTP request and, after rk_http_execute, its outcome.  The caller fills
 * method, path and body; the rest is filled in.  All strings are palloc'd.
 */
typedef struct RkRequest
{
	const char *method;			/* "GET", "POST", "PATCH" or "DELETE" */
	char	   *path;			/* path and query string, appended to the url */
	char	   *body;			/* JSON request body, or NULL */

	long		status;			/* HTTP status, 0 when there was no response */
	RkTransport transport;
	char	   *transport_detail;	/* libcurl's description of the failure */
	char	   *response;		/* NUL-terminated response body */
	size_t		response_len;
	char	   *content_type;	/* of the response, or NULL */
	int			attempts;		/* transfers made, retries included */
	double		retry_after;	/* last Retry-After in seconds, or -1 */
	bool		maybe_applied;	/* an earlier attempt may have taken effect */
} RkRequest;

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

/* What a create sends; NULL fields are omitted. */
typedef struct RkCreateArgs
{
	const char *name;
	const char *expires_at;		/* RFC 3339 */
	const char *project_id;		/* NULL: all projects */
	const char *permission_mode;	/* API enum spelling */
} RkCreateArgs;

/* What an update sends; NULL / -1 fields are omitted (a sparse PATCH). */
typedef struct RkUpdateArgs
{
	const char *name;
	int			active;			/* 1, 0, or -1 to leave as is */
	const char *expires_at;
	bool		clear_expires_at;
} RkUpdateArgs;

/* Columns of routerkeys.key, in order; routerkeys.created_key adds token. */
#define RK_KEY_NCOLUMNS 16
#define RK_COL_ID 0
#define RK_COL_NAME 1
#define RK_COL_ACTIVE 2
#define RK_COL_STATUS 3
#define RK_COL_PERMISSION_MODE 5
#define RK_COL_PROJECT_ID 6
#define RK_COL_EXPIRES_AT 8
#define RK_COL_ATTRS 15

/* What a listing asks the API to filter on (API spellings); NULL: no filter. */
typedef struct RkListFilter
{
	const char *status;
	const char *search;
	const char *project_id;
	int			first_limit;	/* > 0: a smaller first page (a LIMIT) */
	bool		skip_attrs;		/* the caller does not need RkKey.attrs */
} RkListFilter;

/* Counters of remote work, for EXPLAIN ANALYZE. */
typedef struct RkStats
{
	int64		requests;		/* transfers, retries included */
	int64		retries;
	int64		pages;
	int64		bytes;			/* response bytes received */
} RkStats;

typedef struct RkLister RkLister;

/* in routerkeys.c */
extern char *rk_default_server;

/* in options.c */
extern Oid	rk_options_resolve_server(const char *servername);
extern RkConfig *rk_options_load(Oid serverid, Oid userid);
extern int	rk_options_int(List *options, const char *name);

/* in http.c */
extern void rk_http_init(void);
extern void rk_http_execute(const RkConfig *config, RkRequest **requests, int nrequests);
extern bool rk_http_url_acceptable(const char *url, const char **reason);
extern void rk_http_append_escaped(StringInfo buf, const char *text);

/* in contract.c */
extern bool rk_contract_parse_key(const char *body, size_t len, RkKey *key, bool with_token,
								  bool with_attrs, char **problem);
extern bool rk_contract_parse_page(const char *body, size_t len, RkPage *page, bool with_attrs,
								   char **problem);
extern bool rk_contract_parse_empty(const char *body, size_t len, char **problem);
extern char *rk_contract_error_message(const char *body, size_t len);
extern char *rk_contract_create_body(const RkCreateArgs *args);
extern char *rk_contract_update_body(const RkUpdateArgs *args);

/* in keys.c */
extern int	rk_keys_column_index(const char *name);
extern const char *rk_keys_column_name(int index);
extern Oid	rk_keys_column_type(int index);
extern void rk_keys_check_id(const char *id);
extern char *rk_keys_list_path(const RkConfig *config, const RkListFilter *filter, int limit);
extern RkLister *rk_keys_list_start(const RkConfig *config, const RkListFilter *filter,
									RkStats *stats);
extern bool rk_keys_list_next(RkLister *lister, MemoryContext lister_cxt, RkPage *page);
extern bool rk_keys_get(const RkConfig *config, const char *id, RkKey *key, RkStats *stats);
extern int	rk_keys_get_many(const RkConfig *config, char **ids, int n, RkKey *keys,
							 RkStats *stats);
extern void rk_keys_create_many(const RkConfig *config, const RkCreateArgs *args, int n,
								RkKey *keys, bool with_attrs, RkStats *stats);
extern bool rk_keys_update(const RkConfig *config, const char *id, const RkUpdateArgs *args,
						   RkKey *key, RkStats *stats);
extern bool rk_keys_delete(const RkConfig *config, const char *id, RkStats *stats);
extern char *rk_keys_rfc3339(TimestampTz ts, const char *what);
extern void rk_keys_values(const RkKey *key, const bool *wanted, Datum *values, bool *nulls);
extern const char *rk_keys_status_enum(const char *status, bool missing_ok);
extern const char *rk_keys_permission_mode_enum(const char *mode);

/* in errors.c */
extern bool rk_error_is_success(const RkRequest *request);
extern void rk_error_raise(const RkConfig *config, const RkRequest *request,
						   const char *key_id) pg_attribute_noreturn();
extern void rk_error_invalid_response(const RkConfig *config, const RkRequest *request,
									  const char *problem) pg_attribute_noreturn();

#endif							/* ROUTERKEYS_H */
