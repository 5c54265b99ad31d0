/*-------------------------------------------------------------------------
 *
 * rkstub.h
 *		Shared types and prototypes of rkstub, the in-memory stand-in for an
 *		AI Router's provisioning API (see shared/API.md).
 *
 * The stub is split by responsibility; every prototype below is grouped
 * under the file that defines it.  Locking rules, in one place:
 *
 *	- the key store (store.c) has one read/write lock; a caller that reads
 *	  RkKey objects holds it (rk_store_rdlock) for as long as it uses them;
 *	- the fault registry, the request log, the configuration and the
 *	  server's up/down state (http.c) each have their own mutex, taken only
 *	  inside their own functions;
 *	- no function ever holds two of these locks at once, except that the
 *	  store lock may be held while a ULID or a token is generated (ids.c
 *	  keeps its state under that same lock).
 *
 * Memory: everything is plain malloc/free; json-c objects are owned by
 * whoever created them until they are attached to a parent.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RKSTUB_H
#define RKSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#define RK_ID_LEN			26	/* a ULID in Crockford base32 */
#define RK_SECRET_LEN		32	/* random part of a token */
#define RK_TOKEN_LEN		(7 + RK_ID_LEN + 1 + RK_SECRET_LEN)
#define RK_PREFIX_LEN		12	/* token_prefix: first characters of a token */
#define RK_NAME_MAX_CHARS	128
#define RK_LIST_DEFAULT		25
#define RK_LIST_MAX			200
#define RK_MAX_HEADERS		8
#define RK_WORKSPACE_KEYS	3
#define RK_WORKSPACE_ID		"e2a7c3f0-4b1d-4c8e-9a6f-1d2b3c4d5e6f"
#define RK_DOC_URL			"https://docs.orq.ai/docs/api-keys"

/* Which response shapes the stub speaks (shared/API.md, "Shapes"). */
typedef enum RkGeneration
{
	RK_GEN_CURRENT,
	RK_GEN_LEGACY
} RkGeneration;

/* How a request's bearer token was classified. */
typedef enum RkAuth
{
	RK_AUTH_VALID,
	RK_AUTH_MISSING,
	RK_AUTH_INVALID,
	RK_AUTH_DISABLED,
	RK_AUTH_REVOKED,
	RK_AUTH_ROUTER_KEY			/* a router key's own token: not allowed here */
} RkAuth;

typedef enum RkKeyStatus
{
	RK_STATUS_ACTIVE,
	RK_STATUS_DISABLED,
	RK_STATUS_REVOKED
} RkKeyStatus;

typedef enum RkPermMode
{
	RK_PERM_ALL,
	RK_PERM_RESTRICTED,
	RK_PERM_READ_ONLY
} RkPermMode;

/* One entry of a key's per-domain access map; level is 0..2 (NONE..WRITE). */
typedef struct RkAccess
{
	char	   *domain;
	int			level;
} RkAccess;

/*
 * A Router API key as the store keeps it.  The raw token is never kept:
 * only its first RK_PREFIX_LEN characters and its SHA-256.
 */
typedef struct RkKey
{
	char		id[RK_ID_LEN + 1];
	char	   *name;
	char		token_prefix[RK_PREFIX_LEN + 1];
	unsigned char token_hash[32];
	RkKeyStatus status;
	RkPermMode	perm;
	char	   *project_id;		/* NULL: all projects */
	char	   *owner_user_id;	/* NULL: service account */
	RkAccess   *access;
	int			naccess;
	char	   *mcp_access;		/* serialized JSON object; NULL when unset */
	char	   *labels;			/* serialized JSON object; NULL when unset */
	int64_t		created_us;
	int64_t		updated_us;
	int64_t		expires_us;		/* 0: never expires */
	bool		workspace;		/* a workspace key (never listed) */
} RkKey;

/* A validated create request; the store takes ownership of its pointers. */
typedef struct RkKeySpec
{
	char	   *name;
	char	   *project_id;
	char	   *owner_user_id;
	RkPermMode	perm;
	RkAccess   *access;
	int			naccess;
	char	   *mcp_access;		/* serialized JSON */
	char	   *labels;			/* serialized JSON */
	int64_t		expires_us;
	RkKeyStatus status;
} RkKeySpec;

/* A validated sparse update: only the has_* fields change the key. */
typedef struct RkKeyPatch
{
	bool		has_name;
	char	   *name;
	bool		has_status;
	RkKeyStatus status;
	bool		has_perm;
	RkPermMode	perm;
	bool		has_access;
	RkAccess   *access;
	int			naccess;
	bool		has_scope;
	char	   *project_id;
	bool		has_expires;
	int64_t		expires_us;
	bool		clear_expires;
	bool		has_mcp;
	char	   *mcp_access;		/* serialized JSON */
} RkKeyPatch;

/* A growable byte buffer, used to write JSON text directly. */
typedef struct RkBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} RkBuf;

/* One decoded query-string parameter. */
typedef struct RkParam
{
	char	   *name;
	char	   *value;
} RkParam;

typedef struct RkQuery
{
	RkParam    *params;
	int			nparams;
} RkQuery;

/* One HTTP request as the handlers see it (owned by http.c). */
typedef struct RkRequest
{
	char	   *raw_uri;		/* request target exactly as received */
	char	   *path;			/* raw path, without the query */
	char	   *query;			/* raw query string, "" when none */
	char		method[16];
	const char *authorization;	/* header value, valid during dispatch */
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	bool		body_too_large;
	bool		started;
	int			down_seconds;	/* its answer was queued with down_seconds */
} RkRequest;

/* How a reply's body reaches the wire. */
typedef enum RkDelivery
{
	RK_DELIVER_NORMAL,
	RK_DELIVER_DELAY_BODY,		/* half, sleep, rest */
	RK_DELIVER_RESET,			/* full Content-Length, half, then drop */
	RK_DELIVER_DROP				/* nothing at all: close the connection */
} RkDelivery;

typedef struct RkHeader
{
	char	   *name;
	char	   *value;
} RkHeader;

/*
 * A reply under construction.  Either json is set (a tree; rk_reply_finish
 * serializes it into body), or body holds the bytes already (JSON text
 * written directly, or a verbatim body with its own content type), or
 * neither (no body).
 */
typedef struct RkReply
{
	int			status;
	json_object *json;
	char	   *body;
	size_t		body_len;
	char	   *content_type;
	RkHeader	headers[RK_MAX_HEADERS];
	int			nheaders;
	RkDelivery	delivery;
	int			delay_ms;
	int			down_seconds;	/* > 0: once sent, be down for so long */
} RkReply;

/* Error-body spellings (shared/API.md, "Errors"). */
typedef enum RkErrorForm
{
	RK_FORM_OBJECT,				/* {"error":{"code","message"}} */
	RK_FORM_CODE_ERROR,			/* {"code":N,"error","source"} */
	RK_FORM_PLAIN,				/* {"error":"..."} */
	RK_FORM_CODE_MESSAGE,		/* {"code":"...","message"} */
	RK_FORM_HTML,				/* nginx-like page */
	RK_FORM_EMPTY				/* no body */
} RkErrorForm;

typedef enum RkFaultKind
{
	RK_FAULT_STATUS,
	RK_FAULT_DELAY_HEADERS,
	RK_FAULT_DELAY_BODY,
	RK_FAULT_RESET,
	RK_FAULT_TRUNCATE,
	RK_FAULT_HTML,
	RK_FAULT_OVERSIZED,
	RK_FAULT_INVALID_UTF8,
	RK_FAULT_WRONG_TYPES,
	RK_FAULT_RAW,
	RK_FAULT_DROP,				/* perform, then close without a byte */
	RK_FAULT_EXTRA				/* perform normally (plus "members") */
} RkFaultKind;

/* An armed fault, or a private copy of one taken by a matching request. */
typedef struct RkFault
{
	int			id;
	RkFaultKind kind;
	char	   *method;			/* NULL: any */
	char	   *path;			/* prefix; NULL: any */
	char	   *query_contains; /* NULL: any */
	int			skip;
	int			count;			/* -1: until cleared */
	int			status;			/* 200..599 */
	RkErrorForm form;
	char	   *message;
	char	   *retry_after;
	int			retry_after_date;	/* seconds from now; -1: unset */
	bool		apply;
	int			ms;
	int64_t		bytes;
	char	   *content_type;
	char	   *body;
	char	   *members;		/* raw JSON member text for key objects */
} RkFault;

/* in main.c */
extern bool rk_quiet;

/* in config.c */
extern void rk_config_init(RkGeneration generation, int latency_ms);
extern RkGeneration rk_config_generation(void);
extern int	rk_config_latency_ms(void);
extern void rk_config_set_generation(RkGeneration generation);
extern void rk_config_set_latency_ms(int latency_ms);
extern bool rk_config_unique_names(void);
extern void rk_config_set_unique_names(bool unique);
extern void rk_config_restore(void);
extern void rk_config_add_key(RkAuth state, const char *token);
extern bool rk_config_has_keys(void);
extern void rk_config_free(void);
extern RkAuth rk_config_lookup_key(const char *token, size_t len);
extern const char *rk_generation_name(RkGeneration generation);
extern bool rk_generation_parse(const char *s, RkGeneration *out);

/* in util.c */
extern int64_t rk_now_us(void);
extern void rk_sleep_ms(int ms);
extern void rk_wake_sleepers(void);
extern void rk_rearm_sleepers(void);
extern void rk_format_time(int64_t us, char *buf, size_t buflen);
extern bool rk_parse_time(const char *s, int64_t *us);
extern void rk_http_date(time_t t, char *buf, size_t buflen);
extern size_t rk_utf8_chars(const char *s, size_t len, bool *valid);
extern char *rk_utf8_sanitize(const char *s, size_t len);
extern void rk_query_parse(const char *raw, RkQuery *q);
extern const char *rk_query_get(const RkQuery *q, const char *name);
extern void rk_query_free(RkQuery *q);
extern char *rk_percent_decode(const char *s, size_t len, bool plus_is_space);
extern json_object *rk_json_parse(const char *text, size_t len);
extern char *rk_json_text(json_object *o);
extern void rk_buf_init(RkBuf *buf, size_t cap);
extern void rk_buf_append(RkBuf *buf, const char *s, size_t len);
extern void rk_buf_puts(RkBuf *buf, const char *s);
extern void rk_buf_json_string(RkBuf *buf, const char *s);
extern void rk_buf_time(RkBuf *buf, int64_t us);
extern json_object *rk_json_member(json_object *obj, const char *name);
extern bool rk_json_int(json_object *o, int64_t *out);
extern char *rk_xstrdup(const char *s);
extern char *rk_xstrndup(const char *s, size_t len);
extern void *rk_xmalloc(size_t size);
extern void *rk_xcalloc(size_t n, size_t size);
extern void *rk_xrealloc(void *p, size_t size);

/* in ids.c */
extern void rk_random_init(void);
extern uint64_t rk_random_u64(void);
extern void rk_ulid_next(int64_t now_us, char *out);
extern void rk_token_make(const char *id, char *out);

/* in sha256.c */
extern void rk_sha256(const void *data, size_t len, unsigned char *out);

/* in store.c */
extern void rk_store_init(void);
extern void rk_store_reset(void);
extern void rk_store_free(void);
extern void rk_store_rdlock(void);
extern void rk_store_wrlock(void);
extern void rk_store_unlock(void);
extern RkKey *rk_store_find(const char *id);
extern const RkKey *rk_store_find_workspace(const char *id);
extern RkKey *const *rk_store_keys(size_t *n);
extern size_t rk_store_lower_bound(const char *id);
extern size_t rk_store_upper_bound(const char *id);
extern bool rk_store_name_taken(const char *name, const RkKey *except);
extern RkKey *rk_store_insert(RkKeySpec *spec, char *token_out);
extern bool rk_store_delete(const char *id);
extern void rk_store_rename(RkKey *key, char *name);
extern int	rk_store_seed(int count, const char *prefix, RkKeyStatus status,
						  const char *project_id, char *first_id, char *last_id);
extern bool rk_store_seed_named(const char *name, RkKeyStatus status,
								const char *project_id, char *id_out);
extern void rk_store_workspace_ids(const char **ids);
extern void rk_access_free(RkAccess *access, int naccess);
extern bool rk_token_matches(const RkKey *key, const char *token, size_t len);

/* in bodies.c */
extern int	rk_parse_create(json_object *body, RkKeySpec *spec, char *err,
							size_t errlen);
extern int	rk_parse_patch(json_object *body, RkKeyPatch *patch, char *err,
						   size_t errlen);
extern void rk_spec_free(RkKeySpec *spec);
extern void rk_patch_free(RkKeyPatch *patch);
extern const char *rk_status_name(RkKeyStatus status);
extern bool rk_status_parse(const char *s, RkKeyStatus *out);
extern const char *rk_perm_name(RkPermMode perm);
extern bool rk_perm_parse(const char *s, bool *unspecified, RkPermMode *out);
extern const char *rk_access_level_name(int level);
extern int	rk_check_access_fits(RkPermMode perm, bool has_access, int naccess,
								 char *err, size_t errlen);

/* in shapes.c */
extern void rk_shape_key(RkBuf *buf, const RkKey *key, RkGeneration generation,
						 const char *token);
extern void rk_shape_set_members(const char *members);
extern json_object *rk_shape_capabilities(RkGeneration generation);
extern json_object *rk_shape_error(int status, RkErrorForm form,
								   const char *message, const char *id);
extern char *rk_shape_html_page(int status, size_t *len);
extern RkErrorForm rk_default_form(int status);

/* in reply.c */
extern void rk_reply_init(RkReply *reply);
extern void rk_reply_free(RkReply *reply);
extern void rk_reply_json(RkReply *reply, int status, json_object *json);
extern void rk_reply_text(RkReply *reply, int status, RkBuf *buf);
extern void rk_reply_raw(RkReply *reply, int status, const char *content_type,
						 const char *body, size_t len);
extern void rk_reply_error(RkReply *reply, int status, const char *id,
						   const char *fmt,...)
			__attribute__((format(printf, 4, 5)));
extern void rk_reply_error_form(RkReply *reply, int status, RkErrorForm form,
								const char *message, const char *id);
extern void rk_reply_header(RkReply *reply, const char *name, const char *value);
extern void rk_reply_finish(RkReply *reply);

/* in api.c */
extern RkAuth rk_api_classify(const char *authorization);
extern const char *rk_auth_name(RkAuth auth);
extern void rk_api_handle(RkRequest *req, RkAuth auth, RkReply *reply);

/* in faults.c */
extern int	rk_faults_arm(json_object *spec, char *err, size_t errlen);
extern void rk_faults_clear(void);
extern int	rk_faults_armed(void);
extern json_object *rk_faults_describe(void);
extern bool rk_faults_take(const char *method, const char *path,
						   const char *query, RkFault *out);
extern void rk_fault_release(RkFault *fault);
extern bool rk_fault_performs(const RkFault *fault);
extern const char *rk_fault_key_members(const RkFault *fault);
extern void rk_fault_reply(const RkFault *fault, RkReply *reply);
extern void rk_fault_transform(const RkFault *fault, RkReply *reply);
extern void rk_fault_deliver(const RkFault *fault, RkReply *reply);
extern const char *rk_fault_kind_name(RkFaultKind kind);

/* in log.c */
extern void rk_log_init(void);
extern void rk_log_record(const RkRequest *req, RkAuth auth, int status,
						  const char *fault);
extern void rk_log_clear(bool restart);
extern int64_t rk_log_requests(void);
extern json_object *rk_log_since(int64_t since);
extern void rk_log_free(void);

/* in admin.c */
extern void rk_admin_handle(RkRequest *req, RkReply *reply);

/* in http.c */
extern bool rk_http_start(const char *host, int port, const char *cert_pem,
						  const char *key_pem, int *bound_port);
extern void rk_http_stop(void);

#endif							/* RKSTUB_H */
