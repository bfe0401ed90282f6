-- ZITADEL 13_fix_quota_constraints: projections.quotas columns nullable (IF EXISTS: a no-op before the projection exists)
-- Source: cmd/setup/13.go, 13/13_fix_quota_constraints.sql @ ae1af6bc

ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN from_anchor DROP NOT NULL;
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN amount DROP NOT NULL;
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN interval DROP NOT NULL;
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN limit_usage DROP NOT NULL;
