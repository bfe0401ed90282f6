-- ZITADEL setup step 13_fix_quota_constraints: quota columns become optional. The quotas
-- projection is created later (projection_tables), so on a new database this finds no
-- table and does nothing, exactly as in ZITADEL.
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN from_anchor DROP NOT NULL;
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN amount DROP NOT NULL;
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN "interval" DROP NOT NULL;
ALTER TABLE IF EXISTS projections.quotas ALTER COLUMN limit_usage DROP NOT NULL;
