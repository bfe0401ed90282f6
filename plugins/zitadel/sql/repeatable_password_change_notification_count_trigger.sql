-- ZITADEL repeatable_password_change_notification_count_trigger: count notification policies with password_change = true per instance (projections.notification_policies), tracking updates
-- Source: internal/migration/count_trigger.sql @ 39a5465 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82
-- Template config (= the lastRun ZITADEL records): {"table":"projections.notification_policies","parent_type":"instance","instance_id_column":"instance_id","parent_id_column":"instance_id","resource":"password_change_notification","conditions":{"column":"password_change","value":true},"track_change":true}
-- Runs in one transaction (LOCK TABLE needs one). Needs projections.resource_counts with its
-- unique constraint and the functions projections.count_resource() / delete_table_counts()
-- (57_create_resource_counts, 63_alter_resource_counts), and the projection table, which
-- ZITADEL creates in projection_tables (no skip when it is missing: the step fails, as in ZITADEL).

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_password_change_notification ON projections.notification_policies;

CREATE OR REPLACE TRIGGER count_password_change_notification_insert
    AFTER INSERT
    ON projections.notification_policies
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    WHEN (NEW.password_change = true)
    EXECUTE FUNCTION projections.count_resource(
        'instance', 
        'instance_id', 
        'instance_id',
        'password_change_notification'
    );

CREATE OR REPLACE TRIGGER count_password_change_notification_delete
    AFTER DELETE
    ON projections.notification_policies
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    WHEN (OLD.password_change = true)
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'password_change_notification'
    );


CREATE OR REPLACE TRIGGER count_password_change_notification_update_up
    AFTER UPDATE
    ON projections.notification_policies
    FOR EACH ROW
    -- Only count up if the conditions are met in the new state, but were not in the old.
    WHEN (NEW.password_change = true AND OLD.password_change <> true)
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'password_change_notification',
        'UP'
    );

CREATE OR REPLACE TRIGGER count_password_change_notification_update_down
    AFTER UPDATE
    ON projections.notification_policies
    FOR EACH ROW
    -- Only count down if the conditions are not met in the new state, but were in the old.
    WHEN (NEW.password_change <> true AND OLD.password_change = true)
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'password_change_notification',
        'DOWN'
    );


CREATE OR REPLACE TRIGGER truncate_password_change_notification_counts
    AFTER TRUNCATE
    ON projections.notification_policies
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.notification_policies IN SHARE MODE;

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
    'projections.notification_policies',
    'instance',
    instance_id,
    'password_change_notification',
    COUNT(*) AS amount
FROM projections.notification_policies
WHERE projections.notification_policies.password_change = true
GROUP BY (instance_id, instance_id)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;
