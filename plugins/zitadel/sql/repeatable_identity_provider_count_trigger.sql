-- ZITADEL repeatable_identity_provider_count_trigger: count identity providers per instance (projections.idps3, and projections.idp_templates6 since ZITADEL PR #11720)
-- Source: internal/migration/count_trigger.sql @ 39a5465 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82 and 03aff7a
-- Template config (= the lastRun ZITADEL records): {"table":"projections.idps3","parent_type":"instance","instance_id_column":"instance_id","parent_id_column":"instance_id","resource":"identity_provider"}
-- Runs in one transaction (LOCK TABLE needs one). Needs projections.resource_counts with its
-- unique constraint and the functions projections.count_resource() / delete_table_counts()
-- (57_create_resource_counts, 63_alter_resource_counts), and the projection table, which
-- ZITADEL creates in projection_tables (no skip when it is missing: the step fails, as in ZITADEL).

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_identity_provider ON projections.idps3;

CREATE OR REPLACE TRIGGER count_identity_provider_insert
    AFTER INSERT
    ON projections.idps3
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance', 
        'instance_id', 
        'instance_id',
        'identity_provider'
    );

CREATE OR REPLACE TRIGGER count_identity_provider_delete
    AFTER DELETE
    ON projections.idps3
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'identity_provider'
    );



CREATE OR REPLACE TRIGGER truncate_identity_provider_counts
    AFTER TRUNCATE
    ON projections.idps3
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.idps3 IN SHARE MODE;

-- Populate the resource counts for the existing data in the table.
INSERT INTO projections.resource_counts(
	instance_id,
    table_name,
    parent_type,
    parent_id,
    resource_name,
    amount
)
SELECT
    instance_id,
    'projections.idps3',
    'instance',
    instance_id,
    'identity_provider',
    COUNT(*) AS amount
FROM projections.idps3

GROUP BY (instance_id, instance_id)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;

-- ZITADEL 03aff7ae (PR #11720) runs a second step under this same name right after the one
-- above, for the IDP template table (counted as the same resource). zsetup step names are
-- unique, so both template fillings are in this one file. Its config (the lastRun ZITADEL
-- records last under this name): {"table":"projections.idp_templates6","parent_type":"instance","instance_id_column":"instance_id","parent_id_column":"instance_id","resource":"identity_provider"}

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_identity_provider ON projections.idp_templates6;

CREATE OR REPLACE TRIGGER count_identity_provider_insert
    AFTER INSERT
    ON projections.idp_templates6
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance', 
        'instance_id', 
        'instance_id',
        'identity_provider'
    );

CREATE OR REPLACE TRIGGER count_identity_provider_delete
    AFTER DELETE
    ON projections.idp_templates6
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'identity_provider'
    );



CREATE OR REPLACE TRIGGER truncate_identity_provider_counts
    AFTER TRUNCATE
    ON projections.idp_templates6
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.idp_templates6 IN SHARE MODE;

-- Populate the resource counts for the existing data in the table.
INSERT INTO projections.resource_counts(
	instance_id,
    table_name,
    parent_type,
    parent_id,
    resource_name,
    amount
)
SELECT
    instance_id,
    'projections.idp_templates6',
    'instance',
    instance_id,
    'identity_provider',
    COUNT(*) AS amount
FROM projections.idp_templates6

GROUP BY (instance_id, instance_id)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;
