/*-------------------------------------------------------------------------
 *
 * log.c
 *		The request log behind /__admin/log: a ring of the last
 *		RING_SIZE non-admin requests, and the count of requests served.
 *
 * Each entry records method, raw path and query, how the bearer token was
 * classified, the status of the answer (for a "drop" fault, the status the
 * API produced, although not a byte of the answer was sent), the request
 * body (made valid UTF-8) and the fault applied.  It never records a
 * header value: not the token, not any other.  One mutex guards the ring;
 * entries own their strings and are freed when overwritten or cleared.
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rkstub.h"

#define RING_SIZE		10000
#define MAX_LOGGED_BODY (64 * 1024)

typedef struct LogEntry
{
	int64_t		seq;
	char		method[16];
	char	   *path;
	char	   *query;
	const char *auth;			/* static string */
	int			status;
	char	   *body;			/* NULL: no body */
	const char *fault;			/* static string or NULL */
} LogEntry;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static LogEntry *ring = NULL;
static int64_t last_seq = 0;	/* seq of the newest entry */
static int64_t requests = 0;	/* requests served since reset */

/* Allocate the ring. */
void
rk_log_init(void)
{
	ring = rk_xcalloc(RING_SIZE, sizeof(LogEntry));
}

/* Release an entry's strings and mark the slot empty. */
static void
entry_free(LogEntry *e)
{
	free(e->path);
	free(e->query);
	free(e->body);
	memset(e, 0, sizeof(*e));
}

/*
 * Record a served request.  fault is the applied fault's kind name, or
 * NULL.
 */
void
rk_log_record(const RkRequest *req, RkAuth auth, int status, const char *fault)
{
	LogEntry	e;
	LogEntry   *slot;

	memset(&e, 0, sizeof(e));
	strcpy(e.method, req->method);
	e.path = rk_xstrdup(req->path);
	e.query = rk_xstrdup(req->query);
	e.auth = rk_auth_name(auth);
	e.status = status;
	e.fault = fault;
	if (req->body_len > 0)
		e.body = rk_utf8_sanitize(req->body, req->body_len < MAX_LOGGED_BODY
								  ? req->body_len : MAX_LOGGED_BODY);
	pthread_mutex_lock(&log_lock);
	e.seq = ++last_seq;
	requests++;
	slot = &ring[e.seq % RING_SIZE];
	entry_free(slot);
	*slot = e;
	pthread_mutex_unlock(&log_lock);
}

/*
 * Empty the ring.  With restart (a full reset) the sequence and the
 * request count start again from zero; otherwise sequence numbers keep
 * growing so that a reader's ?since= stays meaningful.
 */
void
rk_log_clear(bool restart)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < RING_SIZE; i++)
		entry_free(&ring[i]);
	if (restart)
	{
		last_seq = 0;
		requests = 0;
	}
	pthread_mutex_unlock(&log_lock);
}

/* Non-admin requests served since the last reset. */
int64_t
rk_log_requests(void)
{
	int64_t		n;

	pthread_mutex_lock(&log_lock);
	n = requests;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* A string member, or null. */
static json_object *
maybe_string(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* One entry as JSON. */
static json_object *
entry_json(const LogEntry *e)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "seq", json_object_new_int64(e->seq));
	json_object_object_add(o, "method", json_object_new_string(e->method));
	json_object_object_add(o, "path", json_object_new_string(e->path));
	json_object_object_add(o, "query", json_object_new_string(e->query));
	json_object_object_add(o, "auth", json_object_new_string(e->auth));
	json_object_object_add(o, "status", json_object_new_int(e->status));
	json_object_object_add(o, "body", maybe_string(e->body));
	json_object_object_add(o, "fault", maybe_string(e->fault));
	return o;
}

/* {"entries":[...]} with every kept entry whose seq is greater than since. */
json_object *
rk_log_since(int64_t since)
{
	json_object *obj = json_object_new_object();
	json_object *arr = json_object_new_array();
	int64_t		first;

	pthread_mutex_lock(&log_lock);
	first = last_seq - RING_SIZE + 1;
	if (first < since + 1)
		first = since + 1;
	if (first < 1)
		first = 1;
	for (int64_t seq = first; seq <= last_seq; seq++)
	{
		const LogEntry *e = &ring[seq % RING_SIZE];

		if (e->seq == seq)
			json_object_array_add(arr, entry_json(e));
	}
	pthread_mutex_unlock(&log_lock);
	json_object_object_add(obj, "entries", arr);
	return obj;
}

/* Free the ring at exit. */
void
rk_log_free(void)
{
	rk_log_clear(true);
	free(ring);
	ring = NULL;
}
