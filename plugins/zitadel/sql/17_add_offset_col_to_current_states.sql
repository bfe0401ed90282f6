-- ZITADEL setup step 17_add_offset_col_to_current_states: how many events at the
-- checkpoint's position a projection already processed (several events share a position).
ALTER TABLE projections.current_states ADD COLUMN IF NOT EXISTS filter_offset INTEGER;
