/*-------------------------------------------------------------------------
 *
 * utils/memutils.h (fuzzing shim)
 *		The largest chunk palloc gives, as in PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_MEMUTILS_H
#define RK_SHIM_MEMUTILS_H

#define MaxAllocSize	((size_t) 0x3fffffff)	/* 1 gigabyte - 1 */

#endif							/* RK_SHIM_MEMUTILS_H */
