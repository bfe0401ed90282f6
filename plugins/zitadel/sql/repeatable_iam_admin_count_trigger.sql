-- ZITADEL repeatable_iam_admin_count_trigger: count instance members (IAM admins) per instance (projections.instance_members4)
-- Source: internal/migration/count_trigger.sql @ 39a5465 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82
-- Template config (= the lastRun ZITADEL records): {"table":"projections.instance_members4","parent_type":"instance","instance_id_column":"instance_id","parent_id_column":"resource_owner","resource":"iam_admin"}
-- Runs in one transaction (LOCK TABLE needs one). Needs projections.resource_counts with its
-- unique constraint and the functions projections.count_resource() / delete_table_counts()
-- (57_create_resource_counts, 63_alter_resource_counts), and the projection table, which
-- ZITADEL creates in projection_tables (no skip when it is missing: the step fails, as in ZITADEL).

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_iam_admin ON projections.instance_members4;

CREATE OR REPLACE TRIGGER count_iam_admin_insert
    AFTER INSERT
    ON projections.instance_members4
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance', 
        'instance_id', 
        'resource_owner',
        'iam_admin'
    );

CREATE OR REPLACE TRIGGER count_iam_admin_delete
    AFTER DELETE
    ON projections.instance_members4
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'resource_owner',
        'iam_admin'
    );



CREATE OR REPLACE TRIGGER truncate_iam_admin_counts
    AFTER TRUNCATE
    ON projections.instance_members4
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.instance_members4 IN SHARE MODE;

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
    'projections.instance_members4',
    'instance',
    resource_owner,
    'iam_admin',
    COUNT(*) AS amount
FROM projections.instance_members4

GROUP BY (instance_id, resource_owner)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;
