-- ZITADEL 52_idp_templates6_ldap2: renames projections.idp_templates6_ldap3 to idp_templates6_ldap2 (column rootCA to root_ca) unless idp_templates6_ldap2 exists
-- Source: cmd/setup/52.go @ 4a0850e, cmd/setup/52/check.sql, cmd/setup/52/alter.sql @ 68b4b1c
-- ZITADEL runs check.sql and runs alter.sql only when it returns no row; the same
-- decision is made here in a DO block, with check.sql's query.
DO $do$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM information_schema.tables
        WHERE table_schema = 'projections'
          AND table_name = 'idp_templates6_ldap2'
    ) THEN
        ALTER TABLE IF EXISTS projections.idp_templates6_ldap3 RENAME COLUMN rootCA TO root_ca;
        ALTER TABLE IF EXISTS projections.idp_templates6_ldap3 RENAME TO idp_templates6_ldap2;
    END IF;
END
$do$;
