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
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "rkstub.h"

#define MAX_REQUEST_BODY	(1024 * 1024)
#define SLOW_BLOCK_SIZE		(64 * 1024)

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

/* MHD completion callback: free the request context. */
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

/* Queue a finished reply on the connection. */
static enum MHD_Result
queue_reply(struct MHD_Connection *conn, RkReply *reply)
{
	struct MHD_Response *resp = make_response(reply);
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
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
 * status the API produced, though none of it will be sent.
 */
static void
serve_api(RkRequest *req, RkReply *reply)
{
	RkFault		fault;
	bool		faulted = rk_faults_take(req->method, req->path, req->query, &fault);
	RkAuth		auth = rk_api_classify(req->authorization);

	if (faulted && fault.kind == RK_FAULT_DELAY_HEADERS)
		rk_sleep_ms(fault.ms);
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
 * the connection without answering.
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
 * Start the daemon on host:port (port 0: the kernel picks; the port used
 * goes to *bound_port).  cert_pem/key_pem, when not NULL, switch on TLS.
 * Returns NULL (after a message on stderr) on failure, including a host
 * that is not a loopback address.
 */
struct MHD_Daemon *
rk_http_start(const char *host, int port, const char *cert_pem,
			  const char *key_pem, int *bound_port)
{
	struct sockaddr_storage ss;
	struct MHD_OptionItem tls_opts[3];
	struct MHD_Daemon *daemon;
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION |
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;

	if (loopback_address(host, port, &ss) == 0)
	{
		fprintf(stderr, "rkstub: refusing to listen on \"%s\": not a loopback address\n",
				host);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!rk_quiet)
		flags |= MHD_USE_ERROR_LOG;
	memset(tls_opts, 0, sizeof(tls_opts));
	tls_opts[0].option = MHD_OPTION_END;
	if (cert_pem && key_pem)
	{
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *) key_pem};
		tls_opts[1] = (struct MHD_OptionItem) {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *) cert_pem};
		tls_opts[2].option = MHD_OPTION_END;
	}
	daemon = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, on_request, NULL,
							  MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
							  MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
							  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
							  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 300,
							  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (256 * 1024),
							  MHD_OPTION_ARRAY, tls_opts,
							  MHD_OPTION_END);
	if (daemon == NULL)
	{
		fprintf(stderr, "rkstub: could not start the HTTP server on %s:%d\n", host, port);
		return NULL;
	}
	*bound_port = daemon_port(daemon);
	return daemon;
}

/* Stop the daemon, waking any connection that is sleeping on a delay. */
void
rk_http_stop(struct MHD_Daemon *daemon)
{
	rk_wake_sleepers();
	MHD_stop_daemon(daemon);
}
