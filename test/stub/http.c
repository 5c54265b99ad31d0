/*-------------------------------------------------------------------------
 *
 * http.c
 *		The libmicrohttpd glue: starting the daemon on a loopback address,
 *		collecting each request (raw URI, method, body), running it through
 *		faults, the API or the admin API, and sending the reply, including
 *		the slow and broken deliveries that faults ask for.
 *
 * The daemon runs a thread per connection with keep-alive, so a sleep on
 * one connection (latency, delay faults) never blocks another.  An
 * RkRequest is allocated by the URI callback when a request line arrives
 * and freed by the completion callback; a slow body belongs to its MHD
 * response and is freed with it.  This is the only file that drives
 * libmicrohttpd (shapes.c and faults.c use only its reason phrases).
 *
 * A "drop" fault is carried out by answering MHD_NO from the access
 * handler once the API has handled the request: libmicrohttpd then closes
 * the connection (kept alive or not) without a byte of the answer.
 * libmicrohttpd adds the Date header (the stub's clock) to every answer.
 *
 * A down period (POST /__admin/down) is carried out by a controller
 * thread, never by a handler: once the down answer has been sent, the
 * completion callback only asks for it.  The controller closes the
 * listening socket (new connections are refused from then on), then every
 * connection, stops the daemon, waits, and starts a new daemon on the same
 * address and port; everything else the stub holds lives outside the
 * daemon and is untouched.  libmicrohttpd sets SO_REUSEADDR on its
 * listening socket by default (MHD_OPTION_LISTENING_ADDRESS_REUSE would
 * add SO_REUSEPORT, which lets another process share the port), so the
 * re-bind is not refused because of connections left in TIME_WAIT.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "rkstub.h"

#define MAX_REQUEST_BODY	(1024 * 1024)
#define SLOW_BLOCK_SIZE		(64 * 1024)
#define REBIND_TRY_MS		10000	/* how long a re-bind is retried */
#define REBIND_PAUSE_MS		200		/* pause between two tries */

/* A body sent in two halves, with a pause or a dropped connection between. */
typedef struct SlowBody
{
	char	   *body;
	size_t		len;
	size_t		split;			/* bytes sent before the pause / drop */
	int			delay_ms;
	bool		reset;
	bool		paused;
} SlowBody;

/*
 * The server.  rk_http_start fills in how to start a daemon (address with
 * the port actually bound, TLS material, flags) before the controller
 * thread exists, and nothing changes them later; after that only the
 * controller and rk_http_stop (once it has joined the controller) touch
 * daemon.  The remaining members are under lock, which is never held while
 * another lock is taken.
 */
typedef struct HttpServer
{
	struct sockaddr_storage addr;
	char	   *host;			/* as given, for messages */
	int			port;
	const char *cert_pem;
	const char *key_pem;
	unsigned int flags;			/* MHD flags, without MHD_USE_ERROR_LOG */
	struct MHD_Daemon *daemon;	/* NULL while down */
	pthread_t	controller;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* on the monotonic clock */
	int			down_pending;	/* seconds asked by sent down answers */
	bool		halting;		/* connections being closed: answer nothing */
	bool		stopping;		/* rk_http_stop has begun */
} HttpServer;

static HttpServer server = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Milliseconds on the monotonic clock (the clock of server.cond). */
static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * With server.lock held, wait until deadline_ms (monotonic) has passed or
 * rk_http_stop has begun.  Returns false in the second case.
 */
static bool
wait_until(int64_t deadline_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t) (deadline_ms / 1000);
	ts.tv_nsec = (long) (deadline_ms % 1000) * 1000000L;
	while (!server.stopping && monotonic_ms() < deadline_ms)
		pthread_cond_timedwait(&server.cond, &server.lock, &ts);
	return !server.stopping;
}

/* Is the server closing its connections for a down period? */
static bool
halting(void)
{
	bool		result;

	pthread_mutex_lock(&server.lock);
	result = server.halting;
	pthread_mutex_unlock(&server.lock);
	return result;
}

/*
 * Ask the controller for a down period of seconds (a down answer has just
 * been sent).  Down answers sent before the daemon is stopped make one
 * period, as long as the longest of them.
 */
static void
request_down(int seconds)
{
	pthread_mutex_lock(&server.lock);
	if (seconds > server.down_pending)
		server.down_pending = seconds;
	pthread_cond_broadcast(&server.cond);
	pthread_mutex_unlock(&server.lock);
}

/*
 * MHD URI callback: runs when the request line has been read, before MHD
 * decodes anything, so the raw path and query are kept exactly.  The
 * RkRequest it returns becomes the request's context.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	RkRequest  *req = rk_xcalloc(1, sizeof(RkRequest));
	const char *q = strchr(uri, '?');

	(void) cls;
	(void) conn;
	req->raw_uri = rk_xstrdup(uri);
	req->path = q ? rk_xstrndup(uri, (size_t) (q - uri)) : rk_xstrdup(uri);
	req->query = rk_xstrdup(q ? q + 1 : "");
	return req;
}

/*
 * MHD completion callback: free the request context.  When its answer
 * asked for a down period, ask the controller now that it has been sent
 * (or the client has gone: the call was carried out all the same).
 */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	RkRequest  *req = *req_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (req == NULL)
		return;
	if (req->down_seconds > 0)
		request_down(req->down_seconds);
	free(req->raw_uri);
	free(req->path);
	free(req->query);
	free(req->body);
	free(req);
	*req_cls = NULL;
}

/* Append a chunk of request body, remembering (not keeping) any excess. */
static void
append_body(RkRequest *req, const char *data, size_t len)
{
	if (req->body_len + len > MAX_REQUEST_BODY)
	{
		req->body_too_large = true;
		return;
	}
	if (req->body_len + len + 1 > req->body_cap)
	{
		req->body_cap = (req->body_len + len + 1) * 2;
		req->body = rk_xrealloc(req->body, req->body_cap);
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

/* Content reader for a two-part body (delay_body and reset faults). */
static ssize_t
read_slow_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	SlowBody   *sb = cls;
	size_t		limit;
	size_t		n;

	if (pos >= sb->split && sb->reset)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= sb->split && !sb->paused)
	{
		rk_sleep_ms(sb->delay_ms);
		sb->paused = true;
	}
	if (halting())
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= sb->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	limit = pos < sb->split ? sb->split : sb->len;
	n = limit - (size_t) pos;
	if (n > max)
		n = max;
	memcpy(buf, sb->body + pos, n);
	return (ssize_t) n;
}

/* Free a two-part body (MHD calls this when the response goes away). */
static void
free_slow_body(void *cls)
{
	SlowBody   *sb = cls;

	free(sb->body);
	free(sb);
}

/* Make the MHD response for a reply, taking over its body. */
static struct MHD_Response *
make_response(RkReply *reply)
{
	struct MHD_Response *resp;
	SlowBody   *sb;

	if (reply->delivery == RK_DELIVER_NORMAL || reply->body_len == 0)
	{
		if (reply->delivery == RK_DELIVER_DELAY_BODY)
			rk_sleep_ms(reply->delay_ms);
		if (reply->body_len == 0)
			return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		resp = MHD_create_response_from_buffer(reply->body_len, reply->body,
											   MHD_RESPMEM_MUST_FREE);
		reply->body = NULL;
		return resp;
	}
	sb = rk_xcalloc(1, sizeof(SlowBody));
	sb->body = reply->body;
	sb->len = reply->body_len;
	sb->split = reply->body_len / 2;
	sb->delay_ms = reply->delay_ms;
	sb->reset = reply->delivery == RK_DELIVER_RESET;
	reply->body = NULL;
	resp = MHD_create_response_from_callback(sb->len, SLOW_BLOCK_SIZE,
											 read_slow_body, sb, free_slow_body);
	if (resp == NULL)
		free_slow_body(sb);
	return resp;
}

/*
 * Queue a finished reply on the connection; nothing is queued once a down
 * period has begun (a delay may have been cut short by it).
 */
static enum MHD_Result
queue_reply(struct MHD_Connection *conn, RkReply *reply)
{
	struct MHD_Response *resp = make_response(reply);
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	if (halting())
	{
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	if (reply->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
	for (int i = 0; i < reply->nheaders; i++)
		MHD_add_response_header(resp, reply->headers[i].name, reply->headers[i].value);
	ret = MHD_queue_response(conn, (unsigned) reply->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Serve a non-admin request: match faults, let the API answer unless the
 * fault replaces the answer (the API's key objects then carry the fault's
 * extra members, if it has any), apply the fault's changes, wait the
 * configured latency, and log it.  A dropped answer is logged with the
 * status the API produced, though none of it will be sent.  A request
 * whose delay a down period cut short is neither served nor logged.
 */
static void
serve_api(RkRequest *req, RkReply *reply)
{
	RkFault		fault;
	bool		faulted = rk_faults_take(req->method, req->path, req->query, &fault);
	RkAuth		auth = rk_api_classify(req->authorization);

	if (faulted && fault.kind == RK_FAULT_DELAY_HEADERS)
		rk_sleep_ms(fault.ms);
	if (halting())
	{
		/* a down period cut the delay short: the request is not served */
		if (faulted)
			rk_fault_release(&fault);
		return;
	}
	if (faulted && !rk_fault_performs(&fault))
		rk_fault_reply(&fault, reply);
	else
	{
		rk_shape_set_members(faulted ? rk_fault_key_members(&fault) : NULL);
		rk_api_handle(req, auth, reply);
		rk_shape_set_members(NULL);
		if (faulted)
			rk_fault_transform(&fault, reply);
	}
	rk_reply_finish(reply);
	if (faulted)
		rk_fault_deliver(&fault, reply);
	rk_sleep_ms(rk_config_latency_ms());
	rk_log_record(req, auth, reply->status,
				  faulted ? rk_fault_kind_name(fault.kind) : NULL);
	if (!rk_quiet)
		fprintf(stderr, "rkstub: %s %s%s%s -> %d%s%s\n", req->method, req->path,
				req->query[0] ? "?" : "", req->query, reply->status,
				faulted ? " fault=" : "", faulted ? rk_fault_kind_name(fault.kind) : "");
	if (faulted)
		rk_fault_release(&fault);
}

/* Is this a path of the admin API? */
static bool
is_admin_path(const char *path)
{
	return strcmp(path, "/__admin") == 0 || strncmp(path, "/__admin/", 9) == 0;
}

/*
 * MHD access handler: called once when the headers are in, once per body
 * chunk, and once more when the body is complete; the reply is made on
 * the last call.  A dropped reply is not queued: MHD_NO makes MHD close
 * the connection without answering.  Nor is a request served once a down
 * period has begun.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **req_cls)
{
	RkRequest  *req = *req_cls;
	RkReply		reply;
	enum MHD_Result ret;

	(void) cls;
	(void) url;
	(void) version;
	if (req == NULL)
		return MHD_NO;
	if (!req->started)
	{
		req->started = true;
		snprintf(req->method, sizeof(req->method), "%s", method);
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		append_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (halting())
		return MHD_NO;
	req->authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_AUTHORIZATION);
	rk_reply_init(&reply);
	if (is_admin_path(req->path))
	{
		rk_admin_handle(req, &reply);
		rk_reply_finish(&reply);
	}
	else
		serve_api(req, &reply);
	req->authorization = NULL;
	if (reply.delivery == RK_DELIVER_DROP)
		ret = MHD_NO;
	else
		ret = queue_reply(conn, &reply);
	if (ret == MHD_YES)
		req->down_seconds = reply.down_seconds;
	rk_reply_free(&reply);
	return ret;
}

/*
 * Fill *ss with a loopback address for host and port.  Returns the
 * address length, or 0 if host is not a loopback address.
 */
static socklen_t
loopback_address(const char *host, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *) ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1)
	{
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			return 0;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t) port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1)
	{
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return 0;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t) port);
		return sizeof(*sin6);
	}
	return 0;
}

/* The port a daemon is listening on. */
static int
daemon_port(struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	socklen_t	len = sizeof(ss);

	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (info == NULL || getsockname(info->listen_fd, (struct sockaddr *) &ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
	return ntohs(((struct sockaddr_in *) &ss)->sin_port);
}

/*
 * Start a daemon as server describes it; libmicrohttpd reports a failure
 * on stderr only when log_errors (and not --quiet).  NULL on failure.
 */
static struct MHD_Daemon *
start_daemon(bool log_errors)
{
	struct MHD_OptionItem tls_opts[3];
	unsigned int flags = server.flags;

	if (log_errors && !rk_quiet)
		flags |= MHD_USE_ERROR_LOG;
	memset(tls_opts, 0, sizeof(tls_opts));
	tls_opts[0].option = MHD_OPTION_END;
	if (server.cert_pem && server.key_pem)
	{
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *) server.key_pem};
		tls_opts[1] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *) server.cert_pem};
		tls_opts[2].option = MHD_OPTION_END;
	}
	return MHD_start_daemon(flags, (uint16_t) server.port, NULL, NULL, on_request, NULL,
							MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &server.addr,
							MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
							MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 300,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (256 * 1024),
							MHD_OPTION_ARRAY, tls_opts,
							MHD_OPTION_END);
}

/*
 * Take the daemon down: close the listening socket first, so that new
 * connections are refused from this moment, then every connection (a
 * handler asleep in a delay is woken and answers nothing), then the
 * daemon.  Runs in the controller thread only.
 */
static void
take_down(void)
{
	struct MHD_Daemon *daemon = server.daemon;
	MHD_socket	listen_fd;

	server.daemon = NULL;
	pthread_mutex_lock(&server.lock);
	server.halting = true;
	pthread_mutex_unlock(&server.lock);
	listen_fd = MHD_quiesce_daemon(daemon);
	if (listen_fd != MHD_INVALID_SOCKET)
		shutdown(listen_fd, SHUT_RDWR);
	rk_wake_sleepers();
	MHD_stop_daemon(daemon);
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	rk_rearm_sleepers();
	pthread_mutex_lock(&server.lock);
	server.halting = false;
	pthread_mutex_unlock(&server.lock);
}

/*
 * With server.lock held, start the daemon again on its address, retrying
 * for REBIND_TRY_MS when the port cannot be bound; when it still cannot,
 * say so and exit the process with status 1.  Returns NULL only when
 * rk_http_stop began meanwhile.
 */
static struct MHD_Daemon *
bring_up(void)
{
	int64_t		give_up = monotonic_ms() + REBIND_TRY_MS;
	struct MHD_Daemon *daemon;
	bool		last;

	do
	{
		last = monotonic_ms() + REBIND_PAUSE_MS >= give_up;
		pthread_mutex_unlock(&server.lock);
		daemon = start_daemon(last);
		pthread_mutex_lock(&server.lock);
		if (daemon)
			return daemon;
	} while (!last && wait_until(monotonic_ms() + REBIND_PAUSE_MS));
	if (server.stopping)
		return NULL;
	fprintf(stderr, "rkstub: could not listen again on %s:%d after a down period, giving up\n",
			server.host, server.port);
	exit(1);
}

/*
 * The controller thread: waits for down calls and carries out each down
 * period, until rk_http_stop.  The period is counted from the moment the
 * controller takes it up, right after the down answer was sent.
 */
static void *
controller_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&server.lock);
	for (;;)
	{
		int64_t		began;

		while (!server.stopping && server.down_pending == 0)
			pthread_cond_wait(&server.cond, &server.lock);
		if (server.stopping)
			break;
		began = monotonic_ms();
		pthread_mutex_unlock(&server.lock);
		take_down();
		pthread_mutex_lock(&server.lock);
		if (!rk_quiet)
			fprintf(stderr, "rkstub: down for %d s\n", server.down_pending);
		began += (int64_t) server.down_pending * 1000;
		server.down_pending = 0;
		if (!wait_until(began))
			break;
		server.daemon = bring_up();
		if (server.daemon && !rk_quiet)
			fprintf(stderr, "rkstub: listening again on %s:%d\n", server.host, server.port);
	}
	pthread_mutex_unlock(&server.lock);
	return NULL;
}

/*
 * Start the server on host:port (port 0: the kernel picks; the port used
 * goes to *bound_port, and a down period re-binds that same port), with
 * its controller thread.  cert_pem/key_pem, when not NULL, switch on TLS;
 * they must live until rk_http_stop.  Returns false (after a message on
 * stderr) on failure, including a host that is not a loopback address.
 */
bool
rk_http_start(const char *host, int port, const char *cert_pem,
			  const char *key_pem, int *bound_port)
{
	pthread_condattr_t attr;

	if (loopback_address(host, port, &server.addr) == 0)
	{
		fprintf(stderr, "rkstub: refusing to listen on \"%s\": not a loopback address\n",
				host);
		return false;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&server.cond, &attr);
	pthread_condattr_destroy(&attr);
	server.host = rk_xstrdup(host);
	server.port = port;
	server.cert_pem = cert_pem;
	server.key_pem = key_pem;
	server.flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ITC;
	if (server.addr.ss_family == AF_INET6)
		server.flags |= MHD_USE_IPv6;
	server.daemon = start_daemon(true);
	if (server.daemon == NULL)
	{
		fprintf(stderr, "rkstub: could not start the HTTP server on %s:%d\n", host, port);
		return false;
	}
	server.port = daemon_port(server.daemon);
	loopback_address(host, server.port, &server.addr);
	if (server.port <= 0 ||
		pthread_create(&server.controller, NULL, controller_main, NULL) != 0)
	{
		fprintf(stderr, "rkstub: could not start the HTTP server's controller on %s:%d\n",
				host, port);
		MHD_stop_daemon(server.daemon);
		server.daemon = NULL;
		return false;
	}
	*bound_port = server.port;
	return true;
}

/*
 * Stop the server: end the controller first (a down period in progress
 * ends with it), then stop the daemon if it is up, waking any connection
 * that is sleeping on a delay.
 */
void
rk_http_stop(void)
{
	pthread_mutex_lock(&server.lock);
	server.stopping = true;
	pthread_cond_broadcast(&server.cond);
	pthread_mutex_unlock(&server.lock);
	pthread_join(server.controller, NULL);
	rk_wake_sleepers();
	if (server.daemon)
		MHD_stop_daemon(server.daemon);
	server.daemon = NULL;
	pthread_cond_destroy(&server.cond);
	free(server.host);
	server.host = NULL;
}
