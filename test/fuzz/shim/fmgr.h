/*-------------------------------------------------------------------------
 *
 * fmgr.h (fuzzing shim)
 *		OidInputFunctionCall, for the one input function json.c calls
 *		(numeric_in, by F_NUMERIC_IN); any other raises ERROR.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_FMGR_H
#define RK_SHIM_FMGR_H

extern Datum OidInputFunctionCall(Oid functionId, char *str, Oid typioparam, int32 typmod);

#endif							/* RK_SHIM_FMGR_H */
