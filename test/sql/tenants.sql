-- tenants: the recipe of the README's "tenant triggers" section. Inserting a tenant
-- creates its key and stores the key's id; suspending the tenant disables the key;
-- deleting the tenant deletes it. Then the reports a SaaS back end runs: tenants joined
-- with their keys' status, and keys that no tenant owns.
SELECT stubctl.reset();

CREATE TABLE tenants (
    id        int PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    suspended boolean NOT NULL DEFAULT false,
    key_id    text UNIQUE
);
-- The one-time token goes to a table only the owner can read, for delivery to the tenant.
CREATE TABLE tenant_tokens (
    tenant_id int PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    token     text NOT NULL
);
REVOKE ALL ON tenant_tokens FROM PUBLIC;

CREATE FUNCTION tenants_key_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    made routerkeys.created_key;
BEGIN
    IF TG_OP = 'INSERT' THEN
        made := routerkeys.create_key('tenant-' || NEW.name);
        UPDATE tenants SET key_id = made.id WHERE id = NEW.id;
        INSERT INTO tenant_tokens VALUES (NEW.id, made.token);
    ELSIF TG_OP = 'UPDATE' AND NEW.suspended IS DISTINCT FROM OLD.suspended THEN
        PERFORM routerkeys.update_key(NEW.key_id, active => NOT NEW.suspended);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM routerkeys.delete_key(OLD.key_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_key_sync
    AFTER INSERT OR UPDATE OF suspended OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_key_sync();

INSERT INTO tenants (id, name) VALUES (1, 'acme'), (2, 'globex'), (3, 'initech');
SELECT t.name, k.name AS key_name, k.active, length(tt.token) > 40 AS token_kept
FROM tenants t
JOIN routerkeys.keys k ON k.id = t.key_id
JOIN tenant_tokens tt ON tt.tenant_id = t.id
ORDER BY t.id;

-- Suspending a tenant disables its key; lifting the suspension enables it again.
UPDATE tenants SET suspended = true WHERE name = 'globex';
SELECT t.name, t.suspended, k.active, k.status
FROM tenants t JOIN routerkeys.keys k ON k.id = t.key_id ORDER BY t.id;

-- The report: key status per tenant, and a count per status.
SELECT k.status, count(*) AS tenants
FROM tenants t JOIN routerkeys.keys k ON k.id = t.key_id
GROUP BY k.status ORDER BY k.status;
-- One tenant's key, read directly; a tenant whose key is gone still shows.
SELECT t.name, k.status
FROM tenants t LEFT JOIN LATERAL routerkeys.get_key(t.key_id) k ON true
WHERE t.id = 1;

-- Deleting a tenant deletes its key.
DELETE FROM tenants WHERE name = 'initech';
SELECT stubctl.live_keys();

-- A rolled-back insert leaves no key behind: the key its trigger made is deleted when the
-- transaction aborts. The orphan report finds nothing.
SELECT stubctl.clear_log();
BEGIN;
INSERT INTO tenants (id, name) VALUES (4, 'umbrella');
ROLLBACK;
SELECT method, regexp_replace(path, '[0-9A-Z]{26}', '<id>') AS path, status FROM stubctl.log();
SELECT k.name AS orphan
FROM routerkeys.keys k LEFT JOIN tenants t ON t.key_id = k.id
WHERE t.id IS NULL;

-- A failed create aborts the tenant's insert: no tenant without a key.
SELECT stubctl.fault('{"kind":"status","status":409,"error_form":"plain","message":"name already taken","method":"POST","count":1}');
INSERT INTO tenants (id, name) VALUES (5, 'hooli');
SELECT count(*) FROM tenants WHERE id = 5;
SELECT name, key_id IS NOT NULL AS has_key FROM tenants ORDER BY id;
