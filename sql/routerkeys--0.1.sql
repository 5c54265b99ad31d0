/* routerkeys--0.1.sql: the Router API keys of an AI Router as SQL objects */

\echo Use "CREATE EXTENSION routerkeys" to load this file. \quit

-- Configuration lives in foreign-data objects, as with postgres_fdw:
--   CREATE SERVER … FOREIGN DATA WRAPPER routerkeys OPTIONS (url '…');
--   CREATE USER MAPPING FOR … SERVER … OPTIONS (provisioning_key '…');
CREATE FUNCTION routerkeys.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'routerkeys_fdw_validator'
LANGUAGE C STRICT;

COMMENT ON FUNCTION routerkeys.fdw_validator(text[], oid)
IS 'checks the options of routerkeys servers and user mappings';

CREATE FUNCTION routerkeys.fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'routerkeys_fdw_handler'
LANGUAGE C STRICT;

COMMENT ON FUNCTION routerkeys.fdw_handler()
IS 'the foreign tables of routerkeys: scans, pushdown, INSERT/UPDATE/DELETE';

CREATE FOREIGN DATA WRAPPER routerkeys
  HANDLER routerkeys.fdw_handler
  VALIDATOR routerkeys.fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER routerkeys
IS 'an AI Router''s provisioning API; the provisioning key belongs in a user mapping';

CREATE TYPE routerkeys.key AS (
    id              text,
    name            text,
    active          boolean,
    status          text,
    token_prefix    text,
    permission_mode text,
    project_id      text,
    owner_type      text,
    expires_at      timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    last_used_at    timestamptz,
    created_by_id   text,
    updated_by_id   text,
    source          text,
    attrs           jsonb
);

COMMENT ON TYPE routerkeys.key
IS 'a Router API key; attrs holds the whole remote object';

CREATE TYPE routerkeys.created_key AS (
    id              text,
    name            text,
    active          boolean,
    status          text,
    token_prefix    text,
    permission_mode text,
    project_id      text,
    owner_type      text,
    expires_at      timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    last_used_at    timestamptz,
    created_by_id   text,
    updated_by_id   text,
    source          text,
    attrs           jsonb,
    token           text
);

COMMENT ON TYPE routerkeys.created_key
IS 'a newly created Router API key with its one-time token, which the service never shows again';

CREATE FUNCTION routerkeys.list_keys(
    status     text DEFAULT NULL,
    search     text DEFAULT NULL,
    project_id text DEFAULT NULL,
    server     name DEFAULT NULL)
RETURNS SETOF routerkeys.key
AS 'MODULE_PATHNAME', 'routerkeys_list_keys'
LANGUAGE C VOLATILE PARALLEL RESTRICTED
ROWS 100;

COMMENT ON FUNCTION routerkeys.list_keys(text, text, text, name)
IS 'lists the router keys, newest first; every filter is applied by the API';

CREATE FUNCTION routerkeys.get_key(
    id     text,
    server name DEFAULT NULL)
RETURNS SETOF routerkeys.key
AS 'MODULE_PATHNAME', 'routerkeys_get_key'
LANGUAGE C VOLATILE PARALLEL RESTRICTED
ROWS 1;

COMMENT ON FUNCTION routerkeys.get_key(text, name)
IS 'reads one router key; no row when it does not exist';

CREATE FUNCTION routerkeys.create_key(
    name            text,
    expires_at      timestamptz DEFAULT NULL,
    project_id      text DEFAULT NULL,
    permission_mode text DEFAULT NULL,
    server          name DEFAULT NULL)
RETURNS routerkeys.created_key
AS 'MODULE_PATHNAME', 'routerkeys_create_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.create_key(text, timestamptz, text, text, name)
IS 'creates a router key; the result carries its token, shown this once only';

CREATE FUNCTION routerkeys.update_key(
    id               text,
    name             text DEFAULT NULL,
    active           boolean DEFAULT NULL,
    expires_at       timestamptz DEFAULT NULL,
    clear_expires_at boolean DEFAULT false,
    server           name DEFAULT NULL)
RETURNS routerkeys.key
AS 'MODULE_PATHNAME', 'routerkeys_update_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.update_key(text, text, boolean, timestamptz, boolean, name)
IS 'changes the given fields of a router key (rename, enable or disable, expiry)';

CREATE FUNCTION routerkeys.delete_key(
    id     text,
    server name DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'routerkeys_delete_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.delete_key(text, name)
IS 'deletes a router key; false when it did not exist';

CREATE VIEW routerkeys.keys AS
    SELECT * FROM routerkeys.list_keys();

COMMENT ON VIEW routerkeys.keys
IS 'every router key of the default server, for joins and reports';

-- Every role may call the functions; what a call may do is decided by USAGE on the
-- server and the role's user mapping, as for any foreign server.
GRANT USAGE ON SCHEMA routerkeys TO PUBLIC;
GRANT SELECT ON routerkeys.keys TO PUBLIC;
