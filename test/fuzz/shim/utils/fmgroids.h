/*-------------------------------------------------------------------------
 *
 * utils/fmgroids.h (fuzzing shim)
 *		The OIDs of the built-in functions json.c calls.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_FMGROIDS_H
#define RK_SHIM_FMGROIDS_H

#define F_NUMERIC_IN 1701

#endif							/* RK_SHIM_FMGROIDS_H */
