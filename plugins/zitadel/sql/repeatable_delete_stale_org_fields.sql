-- ZITADEL repeatable_delete_stale_org_fields: delete the eventstore.fields rows of removed organizations, instance by instance
-- Source: cmd/setup/39.go (DeleteStaleOrgFields, the repeatable version) + cmd/setup/39.sql (the version with
-- instance_id = $1); the index shows no commit for these two versions (other 39.sql versions: @ 50d4c5a
-- without $1, @ 64ed2c2 "NOT IN projections.orgs1" without $1: neither takes the id the Go passes)
-- ZITADEL (Go) reads the instance ids (events of aggregate type 'instance', type 'instance.added',
-- newest first) and runs 39.sql once per instance with $1 = that id, each in its own autocommit.
-- Here the same loop runs in SQL; 39.sql is executed unchanged with USING. Check: always true
-- (runs on every setup); lastRun: {} (the step has no exported fields).
DO $do$
DECLARE
	instance text;
BEGIN
	FOR instance IN
		SELECT DISTINCT instance_id
		FROM eventstore.events2
		WHERE aggregate_type = 'instance'
		AND event_type = 'instance.added'
		ORDER BY instance_id DESC
	LOOP
		EXECUTE $sql$
DELETE FROM eventstore.fields
WHERE aggregate_type = 'org'
AND aggregate_id IN (
	SELECT aggregate_id
	FROM eventstore.events2
	WHERE instance_id = $1
	AND aggregate_type = 'org'
	AND event_type = 'org.removed'
)
$sql$ USING instance;
	END LOOP;
END
$do$;
