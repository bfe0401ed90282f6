-- ZITADEL 79_backfill_unique_constraint_owners: fill eventstore.unique_constraints.owners from the projection tables, page by page
-- Source: cmd/setup/79.go (JSON-cursor version) + cmd/setup/79/01_usernames_org_scoped.sql ... 79/20_mail_text.sql @ 19fdcfc
-- ZITADEL (Go) runs each file page by page: $1 = the last page's key as a JSON array ('[]' to
-- start), $2 = BatchSize (default 5000 when not configured); the file returns the next key
-- (text[], NULL when the page was empty) and the rows it updated; it stops when the key is
-- empty, fails when the key did not advance, and skips the file on 42P01 (relation missing).
-- Each file below is one DO block doing exactly that loop around ZITADEL's statement
-- (unchanged, with {{.table}} placeholders replaced by the projection tables, as Go does).
-- Run with transaction: false: each block commits on its own (ZITADEL commits each page);
-- a re-run is harmless (every UPDATE only touches rows whose owners are still '{}', or, for
-- appname/entity_ids, rows that do not yet hold the app owner).
-- Batch size: setting zitadel.backfill_unique_constraint_owners_batch_size if set, else 5000.
-- Needs eventstore.unique_constraints.owners (78_unique_constraint_owners).
-- Check: run when lastRun.version is empty, when the ZITADEL version changed, or when
-- ForceFinalize is set and lastRun.finalized is false. lastRun: {"version": ..., "finalized": bool}.

-- 01_usernames_org_scoped.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: username+resourceOwner (user.NewAddUsernameUniqueConstraint, org-scoped)
WITH page AS MATERIALIZED (
	SELECT u.instance_id, u.id, u.resource_owner, u.username
	FROM projections.users14 u
	WHERE (u.instance_id, u.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY u.instance_id, u.id
	LIMIT $2
),
keys AS (
	SELECT u.instance_id, u.id, u.resource_owner, u.username || u.resource_owner AS unique_field
	FROM page u
	UNION
	SELECT u.instance_id, u.id, u.resource_owner, lower(u.username || u.resource_owner)
	FROM page u
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || u.resource_owner, 'user:' || u.id]
	FROM keys u
	WHERE uc.instance_id = u.instance_id
		AND uc.unique_type = 'usernames'
		AND uc.unique_field = u.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '01_usernames_org_scoped.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '01_usernames_org_scoped.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 02_usernames.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: username (user.NewAddUsernameUniqueConstraint, instance-scoped)
WITH page AS MATERIALIZED (
	SELECT u.instance_id, u.id, u.resource_owner, u.username
	FROM projections.users14 u
	WHERE (u.instance_id, u.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY u.instance_id, u.id
	LIMIT $2
),
batch AS (
	SELECT u.instance_id, u.id, u.resource_owner, u.username
	FROM page u
	LEFT JOIN projections.organization_settings s
		ON s.instance_id = u.instance_id AND s.id = u.resource_owner
	LEFT JOIN projections.domain_policies2 org_pol
		ON org_pol.instance_id = u.instance_id AND org_pol.id = u.resource_owner
	LEFT JOIN projections.domain_policies2 inst_pol
		ON inst_pol.instance_id = u.instance_id AND inst_pol.is_default
	WHERE NOT COALESCE(s.organization_scoped_usernames, false)
		AND NOT COALESCE(org_pol.user_login_must_be_domain, inst_pol.user_login_must_be_domain, false)
),
keys AS (
	SELECT u.instance_id, u.id, u.resource_owner, u.username AS unique_field
	FROM batch u
	UNION
	SELECT u.instance_id, u.id, u.resource_owner, lower(u.username)
	FROM batch u
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || u.resource_owner, 'user:' || u.id]
	FROM keys u
	WHERE uc.instance_id = u.instance_id
		AND uc.unique_type = 'usernames'
		AND uc.unique_field = u.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '02_usernames.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '02_usernames.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 03_external_idps.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: idpConfigID+externalUserID (user.NewAddUserIDPLinkUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT l.instance_id, l.idp_id, l.external_user_id, l.resource_owner, l.user_id
	FROM projections.idp_user_links3 l
	WHERE (l.instance_id, l.idp_id, l.external_user_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''))
	ORDER BY l.instance_id, l.idp_id, l.external_user_id
	LIMIT $2
),
keys AS (
	SELECT l.instance_id, l.resource_owner, l.idp_id, l.user_id, l.idp_id || l.external_user_id AS unique_field
	FROM page l
	UNION
	SELECT l.instance_id, l.resource_owner, l.idp_id, l.user_id, lower(l.idp_id || l.external_user_id)
	FROM page l
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || l.resource_owner, 'idp:' || l.idp_id, 'user:' || l.user_id]
	FROM keys l
	WHERE uc.instance_id = l.instance_id
		AND uc.unique_type = 'external_idps'
		AND uc.unique_field = l.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, idp_id, external_user_id] FROM page ORDER BY instance_id DESC, idp_id DESC, external_user_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '03_external_idps.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '03_external_idps.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 04_org_name.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: org name (org.NewAddOrgNameUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT o.instance_id, o.id, o.name
	FROM projections.orgs1 o
	WHERE (o.instance_id, o.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY o.instance_id, o.id
	LIMIT $2
),
keys AS (
	SELECT o.instance_id, o.id, o.name AS unique_field
	FROM page o
	UNION
	SELECT o.instance_id, o.id, lower(o.name)
	FROM page o
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'org_name'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '04_org_name.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '04_org_name.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 05_org_domain.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: domain (org.NewAddOrgDomainUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT d.org_id, d.domain, d.instance_id
	FROM projections.org_domains2 d
	WHERE (d.org_id, d.domain, d.instance_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''))
		AND d.is_verified
	ORDER BY d.org_id, d.domain, d.instance_id
	LIMIT $2
),
keys AS (
	SELECT d.instance_id, d.org_id, d.domain AS unique_field
	FROM page d
	UNION
	SELECT d.instance_id, d.org_id, lower(d.domain)
	FROM page d
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.org_id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'org_domain'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[org_id, domain, instance_id] FROM page ORDER BY org_id DESC, domain DESC, instance_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '05_org_domain.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '05_org_domain.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 06_project_names.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: name+resourceOwner (project.NewAddProjectNameUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT p.instance_id, p.id, p.resource_owner, p.name
	FROM projections.projects4 p
	WHERE (p.instance_id, p.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY p.instance_id, p.id
	LIMIT $2
),
keys AS (
	SELECT p.instance_id, p.id, p.resource_owner, p.name || p.resource_owner AS unique_field
	FROM page p
	UNION
	SELECT p.instance_id, p.id, p.resource_owner, lower(p.name || p.resource_owner)
	FROM page p
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.resource_owner, 'project:' || k.id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'project_names'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '06_project_names.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '06_project_names.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 07_appname.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: name:projectID (project.NewAddApplicationUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT a.instance_id, a.id, a.resource_owner, a.project_id, a.name
	FROM projections.apps7 a
	WHERE (a.instance_id, a.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY a.instance_id, a.id
	LIMIT $2
),
keys AS (
	SELECT a.instance_id, a.id, a.resource_owner, a.project_id, a.name || ':' || a.project_id AS unique_field
	FROM page a
	UNION
	SELECT a.instance_id, a.id, a.resource_owner, a.project_id, lower(a.name || ':' || a.project_id)
	FROM page a
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = (
		CASE WHEN uc.owners = '{}'
			THEN ARRAY['org:' || a.resource_owner, 'project:' || a.project_id]
			ELSE uc.owners
		END
	) || ARRAY['app:' || a.id]
	FROM keys a
	WHERE uc.instance_id = a.instance_id
		AND uc.unique_type = 'appname'
		AND uc.unique_field = a.unique_field
		AND NOT (uc.owners @> ARRAY['app:' || a.id])
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '07_appname.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '07_appname.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 08_project_role.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: roleKey:projectID (project.NewAddProjectRoleUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT r.instance_id, r.project_id, r.role_key, r.resource_owner
	FROM projections.project_roles4 r
	WHERE (r.instance_id, r.project_id, r.role_key) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''))
	ORDER BY r.instance_id, r.project_id, r.role_key
	LIMIT $2
),
keys AS (
	SELECT r.instance_id, r.resource_owner, r.project_id, r.role_key || ':' || r.project_id AS unique_field
	FROM page r
	UNION
	SELECT r.instance_id, r.resource_owner, r.project_id, lower(r.role_key || ':' || r.project_id)
	FROM page r
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.resource_owner, 'project:' || k.project_id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'project_role'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, project_id, role_key] FROM page ORDER BY instance_id DESC, project_id DESC, role_key DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '08_project_role.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '08_project_role.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 09_entity_ids.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: entityID (project.NewAddSAMLConfigEntityIDUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT s.instance_id, s.app_id, s.entity_id
	FROM projections.apps7_saml_configs s
	WHERE (s.instance_id, s.app_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY s.instance_id, s.app_id
	LIMIT $2
),
batch AS (
	SELECT s.instance_id, a.id, a.resource_owner, a.project_id, s.entity_id
	FROM page s
	JOIN projections.apps7 a ON a.instance_id = s.instance_id AND a.id = s.app_id
),
keys AS (
	SELECT a.instance_id, a.id, a.resource_owner, a.project_id, a.entity_id AS unique_field
	FROM batch a
	UNION
	SELECT a.instance_id, a.id, a.resource_owner, a.project_id, lower(a.entity_id)
	FROM batch a
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = (
		CASE WHEN uc.owners = '{}'
			THEN ARRAY['org:' || a.resource_owner, 'project:' || a.project_id]
			ELSE uc.owners
		END
	) || ARRAY['app:' || a.id]
	FROM keys a
	WHERE uc.instance_id = a.instance_id
		AND uc.unique_type = 'entity_ids'
		AND uc.unique_field = a.unique_field
		AND NOT (uc.owners @> ARRAY['app:' || a.id])
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, app_id] FROM page ORDER BY instance_id DESC, app_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '09_entity_ids.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '09_entity_ids.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 10_project_grant.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: grantedOrgID:projectID (project.NewAddProjectGrantUniqueConstraint)
-- resource_owner is the project org and granted_org_id is the granted org; they differ
WITH page AS MATERIALIZED (
	SELECT g.instance_id, g.grant_id, g.resource_owner, g.granted_org_id, g.project_id
	FROM projections.project_grants4 g
	WHERE (g.instance_id, g.grant_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY g.instance_id, g.grant_id
	LIMIT $2
),
keys AS (
	SELECT g.instance_id, g.resource_owner, g.granted_org_id, g.project_id, g.grant_id, g.granted_org_id || ':' || g.project_id AS unique_field
	FROM page g
	UNION
	SELECT g.instance_id, g.resource_owner, g.granted_org_id, g.project_id, g.grant_id, lower(g.granted_org_id || ':' || g.project_id)
	FROM page g
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || g.resource_owner, 'org:' || g.granted_org_id, 'project:' || g.project_id, 'grant:' || g.grant_id]
	FROM keys g
	WHERE uc.instance_id = g.instance_id
		AND uc.unique_type = 'project_grant'
		AND uc.unique_field = g.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, grant_id] FROM page ORDER BY instance_id DESC, grant_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '10_project_grant.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '10_project_grant.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 11_project_grant_member.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: projectID:userID:grantID (project.NewAddProjectGrantMemberUniqueConstraint)
-- resource_owner is the project org; also stamp the user's home org and the granted org
WITH page AS MATERIALIZED (
	SELECT m.instance_id, m.project_id, m.grant_id, m.user_id, m.resource_owner, m.user_resource_owner, m.granted_org
	FROM projections.project_grant_members4 m
	WHERE (m.instance_id, m.project_id, m.grant_id, m.user_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''), COALESCE($1::jsonb->>3, ''))
	ORDER BY m.instance_id, m.project_id, m.grant_id, m.user_id
	LIMIT $2
),
keys AS (
	SELECT m.instance_id, m.resource_owner, m.user_resource_owner, m.user_id, m.project_id, m.granted_org, m.grant_id,
		m.project_id || ':' || m.user_id || ':' || m.grant_id AS unique_field
	FROM page m
	UNION
	SELECT m.instance_id, m.resource_owner, m.user_resource_owner, m.user_id, m.project_id, m.granted_org, m.grant_id,
		lower(m.project_id || ':' || m.user_id || ':' || m.grant_id)
	FROM page m
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || m.resource_owner, 'org:' || m.user_resource_owner, 'user:' || m.user_id, 'project:' || m.project_id]
		|| CASE WHEN COALESCE(m.granted_org, '') <> '' THEN ARRAY['org:' || m.granted_org] ELSE ARRAY[]::text[] END
		|| CASE WHEN COALESCE(m.grant_id, '') <> '' THEN ARRAY['grant:' || m.grant_id] ELSE ARRAY[]::text[] END
	FROM keys m
	WHERE uc.instance_id = m.instance_id
		AND uc.unique_type = 'project_grant_member'
		AND uc.unique_field = m.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, project_id, grant_id, user_id] FROM page ORDER BY instance_id DESC, project_id DESC, grant_id DESC, user_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '11_project_grant_member.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '11_project_grant_member.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 12_user_grant.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: resourceOwner:userID:projectID:grantID (usergrant.NewAddUserGrantUniqueConstraint)
-- grant resource_owner is not always the user's org; stamp user, project, and granted orgs
WITH page AS MATERIALIZED (
	SELECT g.instance_id, g.id, g.resource_owner, g.resource_owner_user, g.resource_owner_project, g.user_id, g.project_id, g.granted_org, g.grant_id
	FROM projections.user_grants5 g
	WHERE (g.instance_id, g.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY g.instance_id, g.id
	LIMIT $2
),
keys AS (
	SELECT g.instance_id, g.resource_owner, g.resource_owner_user, g.resource_owner_project, g.user_id, g.project_id, g.granted_org, g.grant_id,
		g.resource_owner || ':' || g.user_id || ':' || g.project_id || ':' || g.grant_id AS unique_field
	FROM page g
	UNION
	SELECT g.instance_id, g.resource_owner, g.resource_owner_user, g.resource_owner_project, g.user_id, g.project_id, g.granted_org, g.grant_id,
		lower(g.resource_owner || ':' || g.user_id || ':' || g.project_id || ':' || g.grant_id)
	FROM page g
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || g.resource_owner, 'org:' || g.resource_owner_user, 'org:' || g.resource_owner_project, 'user:' || g.user_id, 'project:' || g.project_id]
		|| CASE WHEN COALESCE(g.granted_org, '') <> '' THEN ARRAY['org:' || g.granted_org] ELSE ARRAY[]::text[] END
		|| CASE WHEN COALESCE(g.grant_id, '') <> '' THEN ARRAY['grant:' || g.grant_id] ELSE ARRAY[]::text[] END
	FROM keys g
	WHERE uc.instance_id = g.instance_id
		AND uc.unique_type = 'user_grant'
		AND uc.unique_field = g.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '12_user_grant.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '12_user_grant.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 13_member_org.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: orgID:userID (member.NewAddMemberUniqueConstraint, org aggregate)
-- stamp both the membership org and the user's home org (they differ for cross-org members)
WITH page AS MATERIALIZED (
	SELECT m.instance_id, m.org_id, m.user_id, m.user_resource_owner
	FROM projections.org_members4 m
	WHERE (m.instance_id, m.org_id, m.user_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''))
	ORDER BY m.instance_id, m.org_id, m.user_id
	LIMIT $2
),
keys AS (
	SELECT m.instance_id, m.org_id, m.user_resource_owner, m.user_id, m.org_id || ':' || m.user_id AS unique_field
	FROM page m
	UNION
	SELECT m.instance_id, m.org_id, m.user_resource_owner, m.user_id, lower(m.org_id || ':' || m.user_id)
	FROM page m
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.org_id, 'org:' || k.user_resource_owner, 'user:' || k.user_id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'member'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, org_id, user_id] FROM page ORDER BY instance_id DESC, org_id DESC, user_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '13_member_org.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '13_member_org.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 14_member_project.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: projectID:userID (member.NewAddMemberUniqueConstraint, project aggregate)
-- stamp the project org and the user's home org (they differ for cross-org members)
WITH page AS MATERIALIZED (
	SELECT m.instance_id, m.project_id, m.user_id, m.resource_owner, m.user_resource_owner
	FROM projections.project_members4 m
	WHERE (m.instance_id, m.project_id, m.user_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''))
	ORDER BY m.instance_id, m.project_id, m.user_id
	LIMIT $2
),
keys AS (
	SELECT m.instance_id, m.resource_owner, m.user_resource_owner, m.user_id, m.project_id, m.project_id || ':' || m.user_id AS unique_field
	FROM page m
	UNION
	SELECT m.instance_id, m.resource_owner, m.user_resource_owner, m.user_id, m.project_id, lower(m.project_id || ':' || m.user_id)
	FROM page m
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.resource_owner, 'org:' || k.user_resource_owner, 'user:' || k.user_id, 'project:' || k.project_id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'member'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, project_id, user_id] FROM page ORDER BY instance_id DESC, project_id DESC, user_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '14_member_project.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '14_member_project.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 15_member_instance.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: instanceID:userID (member.NewAddMemberUniqueConstraint, instance aggregate)
-- instance members live on the instance aggregate, so also stamp the user's home org
WITH page AS MATERIALIZED (
	SELECT m.instance_id, m.id, m.user_id, m.user_resource_owner
	FROM projections.instance_members4 m
	WHERE (m.instance_id, m.id, m.user_id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''))
	ORDER BY m.instance_id, m.id, m.user_id
	LIMIT $2
),
keys AS (
	SELECT m.instance_id, m.user_id, m.user_resource_owner, m.id || ':' || m.user_id AS unique_field
	FROM page m
	UNION
	SELECT m.instance_id, m.user_id, m.user_resource_owner, lower(m.id || ':' || m.user_id)
	FROM page m
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['user:' || k.user_id, 'org:' || k.user_resource_owner]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'member'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id, user_id] FROM page ORDER BY instance_id DESC, id DESC, user_id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '15_member_instance.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '15_member_instance.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 16_group_name.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: name:resourceOwner (group.NewAddGroupNameUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT g.instance_id, g.id, g.resource_owner, g.name
	FROM projections.groups1 g
	WHERE (g.instance_id, g.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY g.instance_id, g.id
	LIMIT $2
),
keys AS (
	SELECT g.instance_id, g.resource_owner, g.name || ':' || g.resource_owner AS unique_field
	FROM page g
	UNION
	SELECT g.instance_id, g.resource_owner, lower(g.name || ':' || g.resource_owner)
	FROM page g
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.resource_owner]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'group_name'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '16_group_name.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '16_group_name.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 17_action_names.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: name:resourceOwner (action.NewAddActionNameUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT a.instance_id, a.id, a.resource_owner, a.name
	FROM projections.actions3 a
	WHERE (a.instance_id, a.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY a.instance_id, a.id
	LIMIT $2
),
keys AS (
	SELECT a.instance_id, a.resource_owner, a.name || ':' || a.resource_owner AS unique_field
	FROM page a
	UNION
	SELECT a.instance_id, a.resource_owner, lower(a.name || ':' || a.resource_owner)
	FROM page a
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.resource_owner]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'action_names'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '17_action_names.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '17_action_names.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 18_idp_config_names.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: name+resourceOwner (idpconfig.NewAddIDPConfigNameUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT i.instance_id, i.id, i.resource_owner, i.name
	FROM projections.idps3 i
	WHERE (i.instance_id, i.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY i.instance_id, i.id
	LIMIT $2
),
keys AS (
	SELECT i.instance_id, i.resource_owner, i.id, i.name || i.resource_owner AS unique_field
	FROM page i
	UNION
	SELECT i.instance_id, i.resource_owner, i.id, lower(i.name || i.resource_owner)
	FROM page i
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || i.resource_owner, 'idp:' || i.id]
	FROM keys i
	WHERE uc.instance_id = i.instance_id
		AND uc.unique_type = 'idp_config_names'
		AND uc.unique_field = i.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '18_idp_config_names.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '18_idp_config_names.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 19_idp_config_names_templates.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: name+resourceOwner (idpconfig.NewAddIDPConfigNameUniqueConstraint, templates)
WITH page AS MATERIALIZED (
	SELECT t.instance_id, t.id, t.resource_owner, t.name
	FROM projections.idp_templates6 t
	WHERE (t.instance_id, t.id) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''))
	ORDER BY t.instance_id, t.id
	LIMIT $2
),
keys AS (
	SELECT t.instance_id, t.resource_owner, t.id, t.name || t.resource_owner AS unique_field
	FROM page t
	UNION
	SELECT t.instance_id, t.resource_owner, t.id, lower(t.name || t.resource_owner)
	FROM page t
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || t.resource_owner, 'idp:' || t.id]
	FROM keys t
	WHERE uc.instance_id = t.instance_id
		AND uc.unique_type = 'idp_config_names'
		AND uc.unique_field = t.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, id] FROM page ORDER BY instance_id DESC, id DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '19_idp_config_names_templates.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '19_idp_config_names_templates.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;

-- 20_mail_text.sql
DO $do$
DECLARE
	query text := $stmt$
-- unique_field: aggregateID:mailTextType:language (policy.NewAddMailTextUniqueConstraint)
WITH page AS MATERIALIZED (
	SELECT t.instance_id, t.aggregate_id, t.type, t.language
	FROM projections.message_texts2 t
	WHERE (t.instance_id, t.aggregate_id, t.type, t.language) > (COALESCE($1::jsonb->>0, ''), COALESCE($1::jsonb->>1, ''), COALESCE($1::jsonb->>2, ''), COALESCE($1::jsonb->>3, ''))
		AND t.aggregate_id <> t.instance_id
	ORDER BY t.instance_id, t.aggregate_id, t.type, t.language
	LIMIT $2
),
keys AS (
	SELECT t.instance_id, t.aggregate_id, t.aggregate_id || ':' || t.type || ':' || t.language AS unique_field
	FROM page t
	UNION
	SELECT t.instance_id, t.aggregate_id, lower(t.aggregate_id || ':' || t.type || ':' || t.language)
	FROM page t
),
upd AS (
	UPDATE eventstore.unique_constraints uc
	SET owners = ARRAY['org:' || k.aggregate_id]
	FROM keys k
	WHERE uc.instance_id = k.instance_id
		AND uc.unique_type = 'mail_text'
		AND uc.unique_field = k.unique_field
		AND uc.owners = '{}'
	RETURNING 1
)
SELECT
	(SELECT ARRAY[instance_id, aggregate_id, type, language] FROM page ORDER BY instance_id DESC, aggregate_id DESC, type DESC, language DESC LIMIT 1),
	(SELECT COUNT(*) FROM upd);
$stmt$;
	batch_size integer := coalesce(nullif(current_setting('zitadel.backfill_unique_constraint_owners_batch_size', true), '')::integer, 0);
	cursor_key text[];
	next_key text[];
	updated bigint;
BEGIN
	IF batch_size <= 0 THEN
		batch_size := 5000; -- defaultUniqueConstraintOwnerBatchSize
	END IF;
	LOOP
		BEGIN
			EXECUTE query INTO next_key, updated USING to_jsonb(coalesce(cursor_key, '{}'::text[]))::text, batch_size;
		EXCEPTION WHEN undefined_table THEN
			RAISE NOTICE 'skip unique constraint owners backfill, relation missing: %', '20_mail_text.sql';
			EXIT;
		END;
		EXIT WHEN coalesce(cardinality(next_key), 0) = 0;
		IF cursor_key IS NOT DISTINCT FROM next_key THEN
			RAISE EXCEPTION 'backfill unique constraint owners %: cursor did not advance', '20_mail_text.sql';
		END IF;
		cursor_key := next_key;
	END LOOP;
END
$do$;
