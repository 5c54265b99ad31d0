/*-------------------------------------------------------------------------
 *
 * lib/stringinfo.h (fuzzing shim)
 *		The StringInfo type named by a prototype in routerkeys.h.
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

#endif							/* RK_SHIM_STRINGINFO_H */
