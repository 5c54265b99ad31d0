/* routerkeys--0.1--0.2.sql: from 0.1 to 0.2 */

\echo Use "ALTER EXTENSION routerkeys UPDATE TO '0.2'" to load this file. \quit

-- The wrapper's functions say what they are.
ALTER FUNCTION routerkeys.fdw_validator(text[], oid) STABLE PARALLEL SAFE;
ALTER FUNCTION routerkeys.fdw_handler() IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION routerkeys.reconcile(
    local     regclass,
    key_column name,
    name_like text,
    repair    boolean DEFAULT false,
    server    name DEFAULT NULL)
RETURNS TABLE (key_id text, name text, problem text, repaired boolean)
AS 'MODULE_PATHNAME', 'routerkeys_reconcile'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.reconcile(regclass, name, text, boolean, name)
IS 'compares the router with a table of key ids: orphans (remote keys whose name is like name_like and that no row holds; deleted with repair) and missing keys (rows whose key does not exist)';
