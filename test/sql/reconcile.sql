-- reconcile: routerkeys.reconcile() compares the router with a table of key ids. Orphans
-- are remote keys whose name is like the pattern and that no row holds (repair deletes
-- them); missing are rows whose key does not exist. A key whose tenant is still being
-- created in an open transaction is never repaired away.
SELECT stubctl.reset();
CREATE TABLE rc_tenants (id int PRIMARY KEY, key_id text);
SELECT id AS k1 FROM routerkeys.create_key('rc-tenant-1') \gset
SELECT id AS k2 FROM routerkeys.create_key('rc-tenant-2') \gset
SELECT id AS orphan_id FROM routerkeys.create_key('rc-tenant-orphan') \gset
SELECT name FROM routerkeys.create_key('other-app-key');
INSERT INTO rc_tenants VALUES (1, :'k1'), (2, :'k2'), (3, '01JMISSINGMISSINGMISSINGMI'), (4, NULL);

-- The report: one orphan (the other application's key does not match the pattern), one
-- missing key; nothing is deleted without repair.
SELECT key_id = :'orphan_id' AS is_the_orphan, name, problem, repaired
FROM routerkeys.reconcile('rc_tenants', 'key_id', 'rc-tenant-%')
WHERE problem = 'orphan';
SELECT key_id, name, problem, repaired
FROM routerkeys.reconcile('rc_tenants', 'key_id', 'rc-tenant-%')
WHERE problem = 'missing';
SELECT stubctl.live_keys();

-- Repair deletes the orphan, and only it.
SELECT name, problem, repaired
FROM routerkeys.reconcile('rc_tenants', 'key_id', 'rc-tenant-%', repair => true)
ORDER BY problem;
SELECT name FROM routerkeys.list_keys() ORDER BY name;

-- A privilege missing on the table is an error before anything is sent.
CREATE ROLE rc_reader;
GRANT USAGE ON FOREIGN SERVER stub TO rc_reader;
CREATE USER MAPPING FOR rc_reader SERVER stub OPTIONS (provisioning_key 'rk-test-provisioning-valid');
SELECT stubctl.clear_log();
SET ROLE rc_reader;
SELECT * FROM routerkeys.reconcile('rc_tenants', 'key_id', 'rc-tenant-%', repair => true);
RESET ROLE;
SELECT count(*) AS requests FROM stubctl.log();
DROP USER MAPPING FOR rc_reader SERVER stub;
REVOKE USAGE ON FOREIGN SERVER stub FROM rc_reader;
DROP ROLE rc_reader;

-- A wrong column, and repair outside READ COMMITTED, are refused.
SELECT * FROM routerkeys.reconcile('rc_tenants', 'no_such_column', 'rc-%');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM routerkeys.reconcile('rc_tenants', 'key_id', 'rc-%', repair => true);
ROLLBACK;

-- A tenant whose transaction is still creating its key: another session creates
-- 'rc-tenant-busy' and keeps its transaction open for five seconds. The key is an orphan
-- to this session (no committed row holds it), but its name lock is held, so repair leaves
-- it; when that transaction rolls back, its own abort deletes the key.
\setenv PGDATABASE :DBNAME
\! psql -X -q -c "BEGIN" -c "SELECT routerkeys.create_key('rc-tenant-busy')" -c "SELECT pg_sleep(5)" -c "ROLLBACK" >/dev/null 2>&1 &
-- Waits (at most 8 s) until a key of that name exists, or no longer does.
CREATE FUNCTION pg_temp.wait_for_busy(present boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..80 LOOP
        IF EXISTS (SELECT FROM routerkeys.list_keys(search => 'rc-tenant-busy')) = present THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END
$$;
SELECT pg_temp.wait_for_busy(true) AS created_by_the_other_session;
SELECT name, problem, repaired
FROM routerkeys.reconcile('rc_tenants', 'key_id', 'rc-tenant-%', repair => true);
SELECT pg_temp.wait_for_busy(false) AS gone_after_its_rollback;
DROP TABLE rc_tenants;
SELECT stubctl.reset();
