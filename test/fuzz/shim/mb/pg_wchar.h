/*-------------------------------------------------------------------------
 *
 * mb/pg_wchar.h (fuzzing shim)
 *		Encoding conversion for a database whose encoding is UTF8, the case
 *		where PostgreSQL converts nothing and only verifies.
 *
 * pg_any_to_server returns its input, after the check PostgreSQL makes
 * (pg_verify_mbstr): a NUL byte or a sequence that is not valid UTF-8
 * (overlong, surrogate, above U+10FFFF) raises ERROR, as in a backend.
 * pg_server_to_any returns its input unchecked, as PostgreSQL does for
 * text already in the server encoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_PG_WCHAR_H
#define RK_SHIM_PG_WCHAR_H

typedef enum pg_enc
{
	PG_SQL_ASCII = 0,
	PG_UTF8 = 6
} pg_enc;

extern int	GetDatabaseEncoding(void);
extern char *pg_any_to_server(const char *s, int len, int encoding);
extern char *pg_server_to_any(const char *s, int len, int encoding);
extern bool pg_verify_mbstr(int encoding, const char *mbstr, int len, bool noError);

#endif							/* RK_SHIM_PG_WCHAR_H */
