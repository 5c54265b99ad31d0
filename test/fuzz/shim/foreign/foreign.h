/*-------------------------------------------------------------------------
 *
 * foreign/foreign.h (fuzzing shim)
 *		The ForeignServer type named by a prototype in routerkeys.h, left
 *		opaque: nothing built here reads a server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_FOREIGN_H
#define RK_SHIM_FOREIGN_H

typedef struct ForeignServer ForeignServer;

#endif							/* RK_SHIM_FOREIGN_H */
