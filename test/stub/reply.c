/*-------------------------------------------------------------------------
 *
 * reply.c
 *		Building an RkReply: a status, a JSON tree or a verbatim body, extra
 *		headers, and at the end one serialization into bytes.
 *
 * A reply owns its JSON tree, body, content type and headers; http.c hands
 * the body to libmicrohttpd and then calls rk_reply_free.  No locking.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rkstub.h"

/* An empty reply (status 500 until someone sets one). */
void
rk_reply_init(RkReply *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->status = 500;
	reply->delivery = RK_DELIVER_NORMAL;
}

/* Release everything a reply owns. */
void
rk_reply_free(RkReply *reply)
{
	json_object_put(reply->json);
	free(reply->body);
	free(reply->content_type);
	for (int i = 0; i < reply->nheaders; i++)
	{
		free(reply->headers[i].name);
		free(reply->headers[i].value);
	}
	rk_reply_init(reply);
}

/* Answer status with a JSON body (json may be NULL: no body). */
void
rk_reply_json(RkReply *reply, int status, json_object *json)
{
	json_object_put(reply->json);
	free(reply->body);
	free(reply->content_type);
	reply->status = status;
	reply->json = json;
	reply->body = NULL;
	reply->body_len = 0;
	reply->content_type = json ? rk_xstrdup("application/json") : NULL;
}

/* Answer status with JSON text already written to buf (taken over). */
void
rk_reply_text(RkReply *reply, int status, RkBuf *buf)
{
	rk_reply_json(reply, status, NULL);
	reply->content_type = rk_xstrdup("application/json");
	reply->body = buf->data;
	reply->body_len = buf->len;
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

/* Answer status with a verbatim body (content_type may be NULL). */
void
rk_reply_raw(RkReply *reply, int status, const char *content_type,
			 const char *body, size_t len)
{
	rk_reply_json(reply, status, NULL);
	reply->content_type = rk_xstrdup(content_type);
	reply->body = body ? rk_xstrndup(body, len) : NULL;
	reply->body_len = body ? len : 0;
}

/*
 * Answer an error in an explicit form; HTML and empty forms included.
 * id (may be NULL) goes into the {"code":N,...} form.
 */
void
rk_reply_error_form(RkReply *reply, int status, RkErrorForm form,
					const char *message, const char *id)
{
	if (form == RK_FORM_HTML)
	{
		size_t		len;
		char	   *page = rk_shape_html_page(status, &len);

		rk_reply_raw(reply, status, "text/html", page, len);
		free(page);
	}
	else if (form == RK_FORM_EMPTY)
		rk_reply_raw(reply, status, NULL, NULL, 0);
	else
		rk_reply_json(reply, status, rk_shape_error(status, form, message, id));
}

/* Answer an error in the stub's usual form for that status. */
void
rk_reply_error(RkReply *reply, int status, const char *id, const char *fmt,...)
{
	char		message[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	rk_reply_error_form(reply, status, rk_default_form(status), message, id);
}

/* Add a response header (silently ignored past RK_MAX_HEADERS). */
void
rk_reply_header(RkReply *reply, const char *name, const char *value)
{
	if (reply->nheaders >= RK_MAX_HEADERS)
		return;
	reply->headers[reply->nheaders].name = rk_xstrdup(name);
	reply->headers[reply->nheaders].value = rk_xstrdup(value);
	reply->nheaders++;
}

/* Serialize the JSON tree, if any, into the body. */
void
rk_reply_finish(RkReply *reply)
{
	const char *text;
	size_t		len;

	if (reply->json == NULL)
		return;
	text = json_object_to_json_string_length(reply->json,
											 JSON_C_TO_STRING_PLAIN |
											 JSON_C_TO_STRING_NOSLASHESCAPE,
											 &len);
	free(reply->body);
	reply->body = rk_xstrndup(text, len);
	reply->body_len = len;
	json_object_put(reply->json);
	reply->json = NULL;
}
