/*-------------------------------------------------------------------------
 *
 * nodes/pg_list.h (fuzzing shim)
 *		The List type named by prototypes in routerkeys.h, left opaque.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_PG_LIST_H
#define RK_SHIM_PG_LIST_H

typedef struct List List;

#endif							/* RK_SHIM_PG_LIST_H */
