/*-------------------------------------------------------------------------
 *
 * datatype/timestamp.h (fuzzing shim)
 *		The TimestampTz type named by a prototype in routerkeys.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_TIMESTAMP_H
#define RK_SHIM_TIMESTAMP_H

typedef int64 TimestampTz;

#endif							/* RK_SHIM_TIMESTAMP_H */
