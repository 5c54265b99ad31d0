/* routerkeys--0.2.sql: the Router API keys of an AI Router as SQL objects */

\echo Use "CREATE EXTENSION routerkeys" to load this file. \quit

-- Configuration lives in foreign-data objects, as with postgres_fdw:
--   CREATE SERVER … FOREIGN DATA WRAPPER routerkeys OPTIONS (url '…');
--   CREATE USER MAPPING FOR … SERVER … OPTIONS (provisioning_key '…');
CREATE FUNCTION routerkeys.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'routerkeys_fdw_validator'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION routerkeys.fdw_validator(text[], oid)
IS 'checks the options of routerkeys servers and user mappings';

CREATE FUNCTION routerkeys.fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'routerkeys_fdw_handler'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

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

CREATE VIEW routerkeys.keys AS
    SELECT * FROM routerkeys.list_keys();

COMMENT ON VIEW routerkeys.keys
IS 'every router key of the default server, for joins and reports';

-- Durable provisioning: intents written in the caller's transaction, applied after
-- commit by the background worker.  The table is the extension's own: no role but its
-- owner may touch it; roles enqueue through the functions below and read their own
-- intents through routerkeys.outbox.
CREATE TABLE routerkeys.intent (
    id              bigserial PRIMARY KEY,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    enqueued_by     regrole NOT NULL,
    server          name NOT NULL,
    operation       text NOT NULL
                    CHECK (operation IN ('create', 'update', 'delete', 'check')),
    key_name        text,
    key_id          text,
    arguments       jsonb NOT NULL DEFAULT '{}',
    target          regclass,
    target_key      jsonb,
    key_column      name,
    deliver_to      text,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'done', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    uncertain       boolean NOT NULL DEFAULT false,
    settle_at       timestamptz,
    last_sqlstate   text,
    last_message    text,
    result_key_id   text,
    done_at         timestamptz,
    CHECK (key_name IS NOT NULL OR key_id IS NOT NULL)
);

CREATE INDEX intent_open ON routerkeys.intent (next_attempt_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX intent_settle ON routerkeys.intent (settle_at)
    WHERE settle_at IS NOT NULL;
CREATE INDEX intent_key_name ON routerkeys.intent (server, key_name, id);
CREATE INDEX intent_key_id ON routerkeys.intent (server, key_id, id);

COMMENT ON TABLE routerkeys.intent
IS 'the outbox: one row per intent to create, update or delete a router key, applied after commit by the routerkeys worker';

SELECT pg_catalog.pg_extension_config_dump('routerkeys.intent', '');
SELECT pg_catalog.pg_extension_config_dump('routerkeys.intent_id_seq', '');
REVOKE ALL ON routerkeys.intent FROM PUBLIC;
REVOKE ALL ON SEQUENCE routerkeys.intent_id_seq FROM PUBLIC;

CREATE VIEW routerkeys.outbox WITH (security_barrier) AS
    SELECT id, enqueued_at, enqueued_by, server, operation, key_name, key_id, arguments,
           target, target_key, key_column, deliver_to, state, attempts, next_attempt_at,
           last_sqlstate, last_message, result_key_id, done_at
    FROM routerkeys.intent
    WHERE pg_catalog.pg_has_role(enqueued_by, 'MEMBER');

COMMENT ON VIEW routerkeys.outbox
IS 'the intents of the roles the current role is a member of, with their state, attempts, last error and resulting key id';

GRANT SELECT ON routerkeys.outbox TO PUBLIC;

CREATE FUNCTION routerkeys.enqueue_create(
    name            text,
    expires_at      timestamptz DEFAULT NULL,
    project_id      text DEFAULT NULL,
    permission_mode text DEFAULT NULL,
    deliver_to      regprocedure DEFAULT NULL,
    context         jsonb DEFAULT NULL,
    server          name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'routerkeys_enqueue_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.enqueue_create(text, timestamptz, text, text, regprocedure, jsonb, name)
IS 'enqueues the creation of a router key, made after commit by the worker; deliver_to(context jsonb, key_id text, token text) receives its token';

CREATE FUNCTION routerkeys.enqueue_update(
    key_id     text DEFAULT NULL,
    key_name   text DEFAULT NULL,
    active     boolean DEFAULT NULL,
    new_name   text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL,
    server     name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'routerkeys_enqueue_update'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.enqueue_update(text, text, boolean, text, timestamptz, name)
IS 'enqueues a change of a router key (given by id, or by the name an enqueued create gives it), made after commit by the worker';

CREATE FUNCTION routerkeys.enqueue_delete(
    key_id   text DEFAULT NULL,
    key_name text DEFAULT NULL,
    server   name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'routerkeys_enqueue_delete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.enqueue_delete(text, text, name)
IS 'enqueues the deletion of a router key (given by id, or by the name an enqueued create gives it), made after commit by the worker';

CREATE FUNCTION routerkeys.provision()
RETURNS trigger
AS 'MODULE_PATHNAME', 'routerkeys_provision'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.provision()
IS 'row trigger for tenant tables: enqueues a key''s create on INSERT, disable or enable when the suspend column changes, delete on DELETE; arguments name=<template> [key_column=…] [suspended=… | active=…] [server=…] [deliver_to=…] [permission_mode=…] [project_id=…]';

CREATE FUNCTION routerkeys.retry(intent bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'routerkeys_retry'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.retry(bigint)
IS 'makes a dead or cancelled intent pending again, with its attempts reset; false when it was neither';

CREATE FUNCTION routerkeys.cancel(intent bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'routerkeys_cancel'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION routerkeys.cancel(bigint)
IS 'cancels a pending or dead intent; false when it is done or cancelled already';

-- Every role may call the functions; what a call may do is decided by USAGE on the
-- server and the role's user mapping, as for any foreign server.
GRANT USAGE ON SCHEMA routerkeys TO PUBLIC;
GRANT SELECT ON routerkeys.keys TO PUBLIC;
