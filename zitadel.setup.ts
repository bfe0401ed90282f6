/**
 * ZITADEL's database setup, declared for zsetup: what `zitadel init` creates, then the steps
 * of `zitadel setup`, under ZITADEL's names and in ZITADEL's order and batches.
 *
 * - Each SQL step's file is plugins/zitadel/sql/<step name>.sql: ZITADEL's statements
 *   (cmd/initialise/sql, cmd/setup in zitadel/zitadel; docs/zitadel-steps.md lists them all,
 *   with sources), made idempotent where ZITADEL's are not (IF NOT EXISTS, DO blocks),
 *   since a step stopped outside a transaction runs again. Steps that build an index
 *   CONCURRENTLY run outside a transaction, statement by statement (an INVALID index left
 *   by an interrupted build is dropped first).
 * - ZITADEL's business logic in Go (the first instance, fields filled by projection
 *   triggers, web keys, the repeatables that push events or create projection tables) is
 *   declared with external(): zsetup never runs it; `plan` says "run by `zitadel setup`".
 *   A step that needs what such a step makes waits for it (skipped, not failed, until
 *   ZITADEL has run it): batch C, which alters projection tables, waits for
 *   projection_tables.
 * - The zitadel-state plugin writes ZITADEL's own step records (system.migration.* events and
 *   unique constraints) for every step of setup that zsetup runs, in the same transaction
 *   as zsetup's: `zitadel setup`, started afterwards, finds them done and runs the rest:
 *   the external steps, and the steps still waiting for them (on a fresh database, batch
 *   B and C wait for projection_tables: 37 steps that ZITADEL then runs itself, or zsetup
 *   on its next apply). Steps ZITADEL ran already are read back (`plan`: "applied by
 *   ZITADEL at").
 *
 * Run it: `zsetup plan` / `zsetup apply` from this folder (ZSETUP_DATABASE_URL picks the
 * database; unset, the embedded PGlite in .zsetup/pglite).
 */
import { defineConfig, prefill, type StepDefinition } from 'zsetup';
import { instances, orgs1, users14 } from './plugins/zitadel/projections.js';
import { zitadelState } from './plugins/zitadel/state.js';
import { external } from './plugins/zitadel/external.js';
import { events2, eventsMove } from './plugins/events2/index.js';
import { chain, countTrigger, inZitadelOrder, sqlStep, whenRelationExists } from './plugins/zitadel/steps.js';

const steps: StepDefinition[] = inZitadelOrder([
  // ---- init: `zitadel init` (cmd/initialise). Its admin part (the role, the database, the
  // grants), for a ZITADEL that does not connect as an admin, runs before this database
  // exists, over an admin connection: zitadel.admin.setup.ts.
  sqlStep('init_01_schemas', 'init: schemas system, projections and eventstore (GRANT on their tables only when current_user is not the login user)'),
  sqlStep('init_02_encryption_keys', 'init: system.encryption_keys, the keys of the database key storage'),
  sqlStep('init_03_events2', 'init: eventstore.events2 with es_active_instances, es_wm, es_projection; types command2, latest_command; commands_to_events, push (skipped when an eventstore.events% table exists)'),
  sqlStep('init_05_unique_constraints', 'init: eventstore.unique_constraints, keyed by (instance_id, unique_type, unique_field), with owners'),

  // ---- setup, batch A: the schema, before ZITADEL's command side starts -------------------
  // The move of a legacy eventstore.events (ZITADEL before events2), in resumable units; on a
  // database made by the init above there is nothing to move. It keeps the legacy table as
  // eventstore.events_old; to drop it once no binary from before events2 runs, add (opt-in)
  // eventsDropOld('14_events_drop_old') after it (imported from './plugins/events2/index.js').
  eventsMove('14_events_push'),
  sqlStep('40_init_push_func_v4', 'types eventstore.command2 and latest_command, commands_to_events(command2[]) and push(command2[])'),
  sqlStep('01_tables', 'schemas adminapi and auth with their view tables; locks, current_sequences, failed_events (adminapi, auth, projections)'),
  sqlStep('02_assets', 'system.assets, assets stored in the database'),
  sqlStep('28_add_search_table', 'eventstore.fields, searchable values of aggregates, with unique and search indexes'),
  sqlStep('31_add_aggregate_index_to_fields', 'index f_aggregate_object_type_idx on eventstore.fields (CONCURRENTLY)', { transaction: false }),
  sqlStep('46_init_permission_functions', 'views role_permissions, instance_orgs, instance_members, org_members, project_members over eventstore.fields; function permitted_orgs'),
  external('03_default_instance', 'the first instance, its organization and admin user, SMTP and OIDC keys: events pushed through its commands'),
  sqlStep('05_last_failed', 'failed_events.last_failed and instance_id indexes on current_sequences and failed_events'),
  sqlStep('06_resource_owner_columns', 'views with owner_removed: adminapi.styling2 and auth users2, user_external_idps2, org_project_mapping2, idp_providers2, idp_configs2'),
  sqlStep('07_logstore', 'schema logstore with tables access and execution'),
  sqlStep('08_auth_token_indexes', 'per-instance indexes on auth.tokens; drops user_user_agent_idx'),
  sqlStep('12_auth_users_otp_columns', 'auth.users2.otp_sms_added and otp_email_added'),
  sqlStep('13_fix_quota_constraints', 'projections.quotas columns nullable (no-op until the projection exists)'),
  sqlStep('15_current_projection_state', 'projections.current_states and failed_events2, filled from the old bookkeeping tables'),
  sqlStep('16_unique_constraint_lower', 'unique_field of eventstore.unique_constraints lower-cased where that collides with nothing'),
  sqlStep('17_add_offset_col_to_current_states', 'projections.current_states.filter_offset'),
  sqlStep('19_add_current_sequences_index', 'index events2_current_sequence on eventstore.events2 (CONCURRENTLY)', { transaction: false }),
  sqlStep('20_add_by_user_index_on_session', 'index user_sessions_by_user on auth.user_sessions (instance_id, user_id) (CONCURRENTLY)', { transaction: false }),
  sqlStep('22_active_instance_events_index', 'partial index active_instances_events on instance.added/removed events (CONCURRENTLY)', { transaction: false }),
  sqlStep('23_correct_global_unique_constraints', "unique constraints of type instance_domain become global (instance_id '')"),
  sqlStep('24_add_actor_col_to_auth_tokens', 'column actor (jsonb) on auth.tokens and auth.refresh_tokens'),
  sqlStep('26_auth_users3', 'auth.users3, the slimmed auth users view'),
  external('29_init_fields_for_project_grant', 'fills eventstore.fields through the ProjectGrantFields projection, per instance'),
  external('30_fill_fields_for_org_domain_verified', 'fills eventstore.fields through the OrgDomainVerifiedFields projection, per instance'),
  sqlStep('34_add_cache_schema', 'schema cache with partitioned tables objects and string_keys (logged parents, unlogged default partitions)'),
  sqlStep('35_add_position_to_index_es_wm', 'rebuild es_wm as (instance_id, aggregate_id, aggregate_type, event_type, position) (CONCURRENTLY as es_wm_temp, drop, rename)', { transaction: false }),
  external('36_fill_v3_milestones', 'pushes milestone events per instance from projections.milestones'),
  // Handler start positions for every instance: after the first instance exists (03).
  sqlStep('38_back_channel_logout_notification_start_', "current_states rows projections.notifications_back_channel_logout per instance, at the step's started event", { after: ['03_default_instance', '35_add_position_to_index_es_wm'] }),
  sqlStep('44_replace_current_sequences_index', 'index events2_current_sequence2 replaces events2_current_sequence (CONCURRENTLY)', { transaction: false }),
  external('43_correct_project_owners', 'pushes owner.corrected events per instance (its file is 45)'),
  external('47_fill_membership_fields', 'fills eventstore.fields through the MembershipFields projection, per instance'),
  sqlStep('49_init_permitted_orgs_function', 'function eventstore.permitted_orgs (system user permissions, instance and org membership)'),
  sqlStep('50_idp_templates6_add_use_pkce', 'use_pkce on idp_templates6_oauth2 and idp_templates6_oidc (no-op until the projection exists)'),
  sqlStep('51_idp_templates6_add_root_ca', 'root_ca on idp_templates6_ldap2 (no-op until the projection exists)'),
  sqlStep('52_idp_templates6_ldap2', 'renames idp_templates6_ldap3 to idp_templates6_ldap2 unless it exists'),
  sqlStep('53_init_permitted_orgs_function_v2', 'system-user permission functions, find_roles, permitted_orgs v2, view project_members with org_id, permitted_projects'),
  sqlStep('54_instance_position_index_remove_again', 'drops index eventstore.es_instance_position'),
  sqlStep('55_execution_handler_start', "current_states rows projections.execution_handler per instance, at the step's started event", { after: ['03_default_instance', '54_instance_position_index_remove_again'] }),
  sqlStep('56_idp_templates6_add_saml_federated_logout', 'federated_logout_enabled on idp_templates6_saml (no-op until the projection exists)'),
  sqlStep('57_create_resource_counts', 'projections.resource_counts and the functions count_resource, delete_table_counts, delete_parent_counts'),
  whenRelationExists('58_replace_login_names3_view', 'view login_names3 and index login_names3_policies_is_default_owner_idx, when the view exists (CONCURRENTLY)', { schema: 'projections', name: 'login_names3', view: true }),
  external('60_generate_system_id', 'generates the system id and pushes system.id.generated'),
  sqlStep('61_idp_templates6_add_saml_signature_algorithm', 'signature_algorithm on idp_templates6_saml (no-op until the projection exists)'),
  sqlStep('62_http_provider_add_signing_key', 'signing_key on sms_configs3_http and smtp_configs5_http (no-op until the projections exist)'),
  sqlStep('63_alter_resource_counts', 'resource_counts constraint unique_resource (with resource_name); count_resource counts UPDATEs UP/DOWN'),
  sqlStep('64_change_push_position', 'type latest_command, commands_to_events(command2[]) with enforce_owner and NOW() per push, push(command2[]) (in_tx_order type read from events2)'),
  sqlStep('65_fix_user_metadata5_index', 'renames user_metadata5_metadata_key_idx, drops user_metadata5_metadata_value_idx (no-op until the projection exists)'),
  sqlStep('67_sync_member_role_fields', 'member role rows of eventstore.fields rebuilt from the member projections, when they exist'),
  sqlStep('69_cache_tables_logged', 'cache.objects and cache.string_keys logged, default partitions unlogged'),
  sqlStep('70_add_eventstore_command_type_enforce_owner_column', 'types eventstore.command2 (enforce_owner) and latest_command; commands_to_events and push for command2'),
  whenRelationExists('76_users14_login_equality_indexes', 'lower() login indexes on users14 and users14_humans, when users14 exists (CONCURRENTLY)', { schema: 'projections', name: 'users14' }),
  sqlStep('78_unique_constraint_owners', 'unique_constraints.owners TEXT[] and GIN index unique_constraints_owners_gin (CONCURRENTLY)', { transaction: false }),
  whenRelationExists('80_users14_instance_resource_owner_idx', 'index users14_instance_resource_owner_idx replaces two users14 indexes, when users14 exists (CONCURRENTLY)', { schema: 'projections', name: 'users14' }),
  sqlStep('81_eventstore_commands_to_events_clock_timestamp', 'commands_to_events(command2[]) stamping position with clock_timestamp() (in_tx_order type read from events2)'),
  sqlStep('82_current_states_in_tx_order', 'current_states.in_tx_order, backfilled from events2; trigger keeps it only when zitadel.keep_in_tx_order is set'),

  // ---- setup, batch B: ZITADEL's repeatable steps, after its command side has started -------
  external('config_change', 'moves generated domains and redirect URIs to a changed external address: events pushed through its commands'),
  external('projection_tables', 'creates every projection table from its Go definitions; reruns for a new version'),
  external('repeatable_delete_stale_org_fields', 'deletes fields of removed organizations, per instance, every setup'),
  external('repeatable_fill_fields_for_instance_domains', 'fills eventstore.fields through the InstanceDomainFields projection, every setup'),
  external('repeatable_sync_role_permissions', 'synchronizes role permissions through its commands, every setup'),
  external('repeatable_migrate_river', 'migrates the river job queue schema, every setup'),
  external('repeatable_eventstore_autovacuum', 'sets autovacuum of eventstore.events2 from its configuration'),
  // Its count triggers on projection tables (trigger_steps.go): they wait for projection_tables.
  // lastRun is the trigger's configuration, as ZITADEL records it; a changed one runs again.
  ...chain(['projection_tables'], [
    countTrigger('repeatable_instance_delete_parent_counts_trigger', 'on instance delete: drop its resource counts',
      { table: 'projections.instances', parent_type: 'instance', instance_id_column: 'id', parent_id_column: 'id', resource: 'instance' }),
    countTrigger('repeatable_organization_delete_parent_counts_trigger', 'on organization delete: drop its resource counts',
      { table: 'projections.orgs1', parent_type: 'organization', instance_id_column: 'instance_id', parent_id_column: 'id', resource: 'organization' }),
    countTrigger('repeatable_organization_count_trigger', 'count organizations per instance',
      { table: 'projections.orgs1', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'organization' }),
    countTrigger('repeatable_project_count_trigger', 'count projects per organization',
      { table: 'projections.projects4', parent_type: 'organization', instance_id_column: 'instance_id', parent_id_column: 'resource_owner', resource: 'project' }),
    countTrigger('repeatable_user_count_trigger', 'count users per organization',
      { table: 'projections.users14', parent_type: 'organization', instance_id_column: 'instance_id', parent_id_column: 'resource_owner', resource: 'user' }),
    countTrigger('repeatable_user_machine_count_trigger', 'count machine users per organization',
      { table: 'projections.users14', parent_type: 'organization', instance_id_column: 'instance_id', parent_id_column: 'resource_owner', resource: 'user_machine', conditions: { column: 'type', value: 2 } }),
    countTrigger('repeatable_iam_admin_count_trigger', 'count instance members per instance',
      { table: 'projections.instance_members4', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'resource_owner', resource: 'iam_admin' }),
    countTrigger('repeatable_identity_provider_count_trigger', 'count identity providers per instance (idps3 and idp_templates6)',
      { table: 'projections.idp_templates6', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'identity_provider' }),
    countTrigger('repeatable_identity_provider_ldap_count_trigger', 'count LDAP identity providers per instance',
      { table: 'projections.idp_templates6_ldap2', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'identity_provider_ldap' }),
    countTrigger('repeatable_action_v1_count_trigger', 'count v1 actions per instance',
      { table: 'projections.actions3', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'action_v1' }),
    countTrigger('repeatable_execution_count_trigger', 'count executions per instance',
      { table: 'projections.executions1', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'execution' }),
    countTrigger('repeatable_execution_target_count_trigger', 'count execution targets per instance',
      { table: 'projections.executions1_targets', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'execution_target' }),
    countTrigger('repeatable_login_policy_count_trigger', 'count login policies per instance',
      { table: 'projections.login_policies5', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'login_policy' }),
    countTrigger('repeatable_enforce_mfa_count_trigger', 'count login policies enforcing MFA per instance (tracks updates)',
      { table: 'projections.login_policies5', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'enforce_mfa',
        conditions: { orConditions: [{ column: 'force_mfa', value: true }, { column: 'force_mfa_local_only', value: true }] }, track_change: true }),
    countTrigger('repeatable_password_complexity_policy_count_trigger', 'count password complexity policies per instance',
      { table: 'projections.password_complexity_policies2', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'password_complexity_policy' }),
    countTrigger('repeatable_password_expiry_policy_count_trigger', 'count password age policies per instance',
      { table: 'projections.password_age_policies2', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'password_expiry_policy' }),
    countTrigger('repeatable_lockout_policy_count_trigger', 'count lockout policies per instance',
      { table: 'projections.lockout_policies3', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'lockout_policy' }),
    countTrigger('repeatable_password_change_notification_count_trigger', 'count notification policies with password_change per instance (tracks updates)',
      { table: 'projections.notification_policies', parent_type: 'instance', instance_id_column: 'instance_id', parent_id_column: 'instance_id', resource: 'password_change_notification',
        conditions: { column: 'password_change', value: true }, track_change: true }),
    countTrigger('repeatable_scim_provisioned_user_count_trigger', 'count SCIM-provisioned users per organization',
      { table: 'projections.user_metadata5', parent_type: 'organization', instance_id_column: 'instance_id', parent_id_column: 'resource_owner', resource: 'scim_provisioned_user',
        conditions: { column: 'key', value: 'urn:zitadel:scim:emails' } }),
  ]),

  // ---- setup, batch C: columns added to projection tables; they wait for projection_tables --
  ...chain(['projection_tables'], [
    sqlStep('18_add_lower_fields_to_login_names', 'login_names3_users.user_name_lower and login_names3_domains.name_lower (generated lower()) with their search indexes'),
    sqlStep('21_add_block_field_to_limits', 'projections.limits.block'),
    sqlStep('25_user14_add_lower_fields_to_verified_email', 'users14_notifications.verified_email_lower (generated lower()) and index users14_notifications_email_search'),
    sqlStep('27_idp_templates6_add_saml_name_id_format', 'idp_templates6_saml.name_id_format and transient_mapping_attribute_name'),
    sqlStep('32_add_auth_sessionID', 'auth.user_sessions.id and index user_session_id (id, instance_id)'),
    sqlStep('33_sms_configs3_twilio_add_verification_sid', 'sms_configs3_twilio.verify_service_sid'),
    sqlStep('37_apps7_oidc_configs_add_back_channel_logout_uri', 'apps7_oidc_configs.back_channel_logout_uri'),
    sqlStep('40_apps7_oidc_configs_login_version', 'apps7_oidc_configs.login_version and login_base_uri (ZITADEL file 42)'),
    sqlStep('43_create_fields_domain_index', 'partial index fields_instance_domains_idx on eventstore.fields for instance domains (CONCURRENTLY)', { transaction: false }),
    sqlStep('48_apps7_saml_configs_login_version', 'apps7_saml_configs.login_version and login_base_uri'),
    sqlStep('66_session_recovery_code_checked_at', 'sessions8.mfa_recovery_code_checked_at'),
    sqlStep('68_target2_add_payload_type_authn_key2_fingerprint_expiration', 'targets2.payload_type (default 0), authn_keys2.fingerprint, authn_keys2.expiration nullable'),
    sqlStep('71_idp_templates6_jwt_add_audience', 'idp_templates6_jwt.audience'),
    sqlStep('72_add_columns_to_login_names_view', 'view projections.login_names3 gains resource_owner and login_name_lower (needs 18)'),
    sqlStep('74_apps7_oidc_configs_add_registration_token', 'apps7_oidc_configs.registration_token'),
    sqlStep('75_apps7_oidc_configs_add_app_link_config', 'apps7_oidc_configs app-link columns: ios_team_id, ios_bundle_id, android_package_name, android_sha256_cert_fingerprints'),
  ]),
  // ZITADEL's own steps of batch C (Go, through its commands), after projection_tables.
  external('59_setup_webkeys', 'generates the initial web keys of every instance through its commands', { after: ['projection_tables'] }),
  external('73_fix_user_grant_roles', 'pushes user.grant.cascade.changed events where grants lost roles, per instance', { after: ['projection_tables'] }),

  // ---- setup, batch D: projection prefill (--init-projections, on by default), each step
  // named after its projection's table; after the steps that shape projections.current_states.
  prefill(instances, { after: ['82_current_states_in_tx_order'] }),
  prefill(orgs1, { after: ['82_current_states_in_tx_order'] }),
  prefill(users14, { after: ['82_current_states_in_tx_order'] }),

  // ---- setup, batch E: what runs last, once the projections exist (ZITADEL's Go) ---------
  external('79_backfill_unique_constraint_owners', 'fills unique_constraints.owners from the projection tables; reruns for a new version', { after: ['projection_tables'] }),
]);

export default defineConfig({
  // ZITADEL's records for every SQL step of setup (not init's, which ZITADEL does not record;
  // not the prefill's, which ZITADEL runs again cheaply from the checkpoints).
  plugins: [events2(), zitadelState({ reproduces: steps.filter((s) => s.kind !== 'zitadel.external' && s.kind !== 'prefill' && !s.name.startsWith('init_')).map((s) => s.name) })],
  steps,
});
