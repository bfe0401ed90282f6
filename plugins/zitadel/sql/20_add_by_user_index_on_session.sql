-- ZITADEL setup step 20_add_by_user_index_on_session: a user's sessions, per instance.
CREATE INDEX IF NOT EXISTS user_sessions_by_user ON auth.user_sessions (instance_id, user_id);
