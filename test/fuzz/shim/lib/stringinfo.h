/*-------------------------------------------------------------------------
 *
 * lib/stringinfo.h (fuzzing shim)
 *		PostgreSQL's extensible string buffer, with its layout and API
 *		(pgshim.c implements it over palloc, as stringinfo.c does).
 *
 * data is always NUL-terminated; maxlen is the size of the chunk data
 * points to.  Growing past MaxAllocSize raises ERROR, as in PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_STRINGINFO_H
#define RK_SHIM_STRINGINFO_H

typedef struct StringInfoData
{
	char	   *data;
	int			len;
	int			maxlen;
	int			cursor;
} StringInfoData;

typedef StringInfoData *StringInfo;

extern StringInfo makeStringInfo(void);
extern void initStringInfo(StringInfo str);
extern void resetStringInfo(StringInfo str);
extern void appendStringInfo(StringInfo str, const char *fmt,...) pg_attribute_printf(2, 3);
extern void appendStringInfoString(StringInfo str, const char *s);
extern void appendStringInfoChar(StringInfo str, char ch);
extern void appendBinaryStringInfo(StringInfo str, const void *data, int datalen);
extern void enlargeStringInfo(StringInfo str, int needed);

#endif							/* RK_SHIM_STRINGINFO_H */
