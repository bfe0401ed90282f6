-- ZITADEL repeatable_organization_count_trigger: count organizations per instance (projections.orgs1) into projections.resource_counts
-- Source: internal/migration/count_trigger.sql @ 39a5465 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82
-- Template config (= the lastRun ZITADEL records): {"table":"projections.orgs1","parent_type":"instance","instance_id_column":"instance_id","parent_id_column":"instance_id","resource":"organization"}
-- Runs in one transaction (LOCK TABLE needs one). Needs projections.resource_counts with its
-- unique constraint and the functions projections.count_resource() / delete_table_counts()
-- (57_create_resource_counts, 63_alter_resource_counts), and the projection table, which
-- ZITADEL creates in projection_tables (no skip when it is missing: the step fails, as in ZITADEL).

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_organization ON projections.orgs1;

CREATE OR REPLACE TRIGGER count_organization_insert
    AFTER INSERT
    ON projections.orgs1
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance', 
        'instance_id', 
        'instance_id',
        'organization'
    );

CREATE OR REPLACE TRIGGER count_organization_delete
    AFTER DELETE
    ON projections.orgs1
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'organization'
    );



CREATE OR REPLACE TRIGGER truncate_organization_counts
    AFTER TRUNCATE
    ON projections.orgs1
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.orgs1 IN SHARE MODE;

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
    'projections.orgs1',
    'instance',
    instance_id,
    'organization',
    COUNT(*) AS amount
FROM projections.orgs1

GROUP BY (instance_id, instance_id)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;
