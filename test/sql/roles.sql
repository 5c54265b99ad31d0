-- roles: a non-superuser with USAGE on the server and a user mapping of its own manages
-- keys. No role can read another role's provisioning key from the catalogs; a role
-- without USAGE or without a mapping gets a clear error; a PUBLIC mapping serves
-- every role that has USAGE, without showing them the key.
SELECT stubctl.reset();
CREATE ROLE rk_app;
CREATE ROLE rk_other;
GRANT USAGE ON FOREIGN SERVER stub TO rk_app;
CREATE USER MAPPING FOR rk_app SERVER stub OPTIONS (provisioning_key 'rk-test-provisioning-valid');

SET ROLE rk_app;
SELECT name, active FROM routerkeys.create_key('from-app');
SELECT name FROM routerkeys.keys;
-- It sees its own key, and no other role's.
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'stub' ORDER BY usename;
SELECT umoptions FROM pg_user_mapping;
RESET ROLE;

-- Without USAGE on the server:
SET ROLE rk_other;
SELECT count(*) FROM routerkeys.keys;
RESET ROLE;
-- With USAGE but no mapping:
GRANT USAGE ON FOREIGN SERVER stub TO rk_other;
SET ROLE rk_other;
SELECT count(*) FROM routerkeys.keys;
RESET ROLE;
-- A PUBLIC mapping serves it; its options stay hidden from it.
CREATE USER MAPPING FOR PUBLIC SERVER stub OPTIONS (provisioning_key 'rk-test-provisioning-valid');
SET ROLE rk_other;
SELECT name FROM routerkeys.keys;
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'stub' ORDER BY usename;
RESET ROLE;

DROP USER MAPPING FOR PUBLIC SERVER stub;
DROP USER MAPPING FOR rk_app SERVER stub;
REVOKE USAGE ON FOREIGN SERVER stub FROM rk_app, rk_other;
DROP ROLE rk_app, rk_other;
