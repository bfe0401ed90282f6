/**
 * ZITADEL's database setup, declared for zsetup.
 *
 * What ZITADEL's `init` command creates (schemas, the event table events2, the unique
 * constraints table) followed by the schema steps of `setup` in ZITADEL's order, under
 * ZITADEL's step names, and the repeatable `config_change`. Each SQL step lives in
 * plugins/zitadel/sql/<step name>.sql: written for zsetup after ZITADEL's own SQL
 * (cmd/initialise/sql/*.sql and cmd/setup/<n>*.sql in zitadel/zitadel), with the same
 * names, columns and meaning, and made idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING,
 * DO blocks), since a step that stops outside a transaction runs again.
 *
 * Every step runs after the one before it. Steps run in one transaction together with
 * their state record, except those that build indexes CONCURRENTLY (`transaction: false`):
 * their statements run one by one, and each of them first drops an INVALID index left by
 * an interrupted build.
 *
 * Not here (yet):
 * - 14_events_push, the migration of the legacy eventstore.events into events2 (a
 *   separate change; on a new database events2 already exists and ZITADEL skips it).
 * - 46_init_permission_functions: its views and functions read projection tables
 *   (projections.orgs1, projections.instance_members4, ...) that only exist once the
 *   projections are created (projection_tables, batch B), not at this point.
 * - The first-instance step, the later batch-A steps, batches B to D, and the prefill of
 *   projections other than instances, orgs1 and users14 (prefilled at the end).
 *
 * Run it: `zsetup plan` / `zsetup apply` from this folder (ZSETUP_DATABASE_URL picks the
 * database; unset, the embedded PGlite in .zsetup/pglite).
 */
import { defineConfig, step, repeatable, file, prefill } from 'zsetup';
import { instances, orgs1, users14 } from './plugins/zitadel/projections.js';

/** Where a step's SQL lives: plugins/zitadel/sql/<name>.sql. */
const sql = (name: string) => file(`plugins/zitadel/sql/${name}.sql`);

/** ZITADEL's external address settings: what config_change records and compares. */
interface ExternalConfig {
  externalDomain: string;
  externalPort: number;
  externalSecure: boolean;
}

/**
 * Read from the environment each time it is asked (not at load), so a bad value only
 * stops config_change, with a message naming the variable.
 */
function externalConfig(env: NodeJS.ProcessEnv = process.env): ExternalConfig {
  const domain = env.ZITADEL_EXTERNALDOMAIN?.trim() || 'localhost';
  const portText = env.ZITADEL_EXTERNALPORT?.trim() || '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new Error(`ZITADEL_EXTERNALPORT must be a port number (0-65535), got "${env.ZITADEL_EXTERNALPORT}"`);
  }
  const secureText = (env.ZITADEL_EXTERNALSECURE?.trim() || 'false').toLowerCase();
  if (secureText !== 'true' && secureText !== 'false') {
    throw new Error(`ZITADEL_EXTERNALSECURE must be "true" or "false", got "${env.ZITADEL_EXTERNALSECURE}"`);
  }
  return { externalDomain: domain, externalPort: port, externalSecure: secureText === 'true' };
}

const show = (c: ExternalConfig) => `${c.externalSecure ? 'https' : 'http'}://${c.externalDomain}:${c.externalPort}`;

export default defineConfig({
  steps: [
    // ---- init (ZITADEL's `init` command: cmd/initialise/sql) ---------------------------
    step('init_01_schemas', {
      description: 'init: schemas system, projections and eventstore',
      sql: sql('init_01_schemas'),
    }),
    step('init_02_encryption_keys', {
      description: 'init: system.encryption_keys, the keys of the database key storage',
      sql: sql('init_02_encryption_keys'),
    }),
    step('init_03_events2', {
      description: 'init: eventstore.events2 with its primary key and indexes es_active_instances, es_wm, es_projection',
      sql: sql('init_03_events2'),
    }),
    step('init_04_system_sequence', {
      description: 'init: sequence eventstore.system_seq',
      sql: sql('init_04_system_sequence'),
    }),
    step('init_05_unique_constraints', {
      description: 'init: eventstore.unique_constraints, keyed by (instance_id, unique_type, unique_field)',
      sql: sql('init_05_unique_constraints'),
    }),

    // ---- setup, batch A (cmd/setup), in ZITADEL's order -------------------------------
    // (14_events_push would come first: see the header.)
    step('40_init_push_func_v4', {
      description: 'type eventstore.command and the push function that writes commands as events',
      sql: sql('40_init_push_func_v4'),
    }),
    step('01_tables', {
      description: 'schemas adminapi and auth with their views; locks, current_sequences, failed_events (adminapi, auth, projections)',
      sql: sql('01_tables'),
    }),
    step('02_assets', {
      description: 'system.assets, assets stored in the database',
      sql: sql('02_assets'),
    }),
    step('28_add_search_table', {
      description: 'eventstore.fields, searchable values of aggregates, with unique and search indexes',
      sql: sql('28_add_search_table'),
    }),
    step('31_add_aggregate_index_to_fields', {
      description: 'index f_aggregate_object_type_idx on eventstore.fields (CONCURRENTLY)',
      transaction: false,
      sql: sql('31_add_aggregate_index_to_fields'),
    }),
    // (46_init_permission_functions and the first-instance step come here: see the header.)
    step('05_last_failed', {
      description: 'failed_events.last_failed and instance_id indexes on current_sequences and failed_events',
      sql: sql('05_last_failed'),
    }),
    step('06_resource_owner_columns', {
      description: 'views with owner_removed: adminapi.styling2 and auth users2, user_external_idps2, org_project_mapping2, idp_providers2, idp_configs2',
      sql: sql('06_resource_owner_columns'),
    }),
    step('07_logstore', {
      description: 'schema logstore with tables access and execution',
      sql: sql('07_logstore'),
    }),
    step('08_auth_token_indexes', {
      description: 'per-instance indexes on auth.tokens; drops user_user_agent_idx',
      sql: sql('08_auth_token_indexes'),
    }),
    step('12_auth_users_otp_columns', {
      description: 'auth.users2.otp_sms_added and otp_email_added',
      sql: sql('12_auth_users_otp_columns'),
    }),
    step('13_fix_quota_constraints', {
      description: 'projections.quotas columns nullable (no-op until the projection exists)',
      sql: sql('13_fix_quota_constraints'),
    }),
    step('15_current_projection_state', {
      description: 'projections.current_states and failed_events2, filled from the old bookkeeping tables',
      sql: sql('15_current_projection_state'),
    }),
    step('17_add_offset_col_to_current_states', {
      description: 'projections.current_states.filter_offset',
      sql: sql('17_add_offset_col_to_current_states'),
    }),
    step('19_add_current_sequences_index', {
      description: 'index events2_current_sequence on eventstore.events2 (CONCURRENTLY)',
      transaction: false,
      sql: sql('19_add_current_sequences_index'),
    }),
    step('20_add_by_user_index_on_session', {
      description: 'index user_sessions_by_user on auth.user_sessions (instance_id, user_id)',
      sql: sql('20_add_by_user_index_on_session'),
    }),
    step('22_active_instance_events_index', {
      description: 'partial index active_instances_events on instance.added/removed events (CONCURRENTLY)',
      transaction: false,
      sql: sql('22_active_instance_events_index'),
    }),
    step('34_add_cache_schema', {
      description: 'schema cache with partitioned tables objects and string_keys (unlogged default partitions)',
      sql: sql('34_add_cache_schema'),
    }),
    step('35_add_position_to_index_es_wm', {
      description: 'rebuild es_wm as (instance_id, aggregate_id, aggregate_type, event_type, position) (CONCURRENTLY, then swap)',
      transaction: false,
      sql: sql('35_add_position_to_index_es_wm'),
    }),

    // ---- setup, batch B (repeatable) -----------------------------------------------------
    // ZITADEL re-runs config_change when the external domain, port or TLS setting changed,
    // and then moves the instances' generated domains and console redirect URIs to the new
    // address by pushing events (command.ChangeSystemConfig). That needs ZITADEL's command
    // side, which is not part of zsetup: this step records the settings (the journal keeps
    // them as lastRun) and reports the change.
    repeatable<ExternalConfig>('config_change', {
      description: 'records ZITADEL_EXTERNALDOMAIN/PORT/SECURE; re-runs when any of them changed',
      version: 1, // the checksum source; bump it when `run` changes
      lastRun: () => externalConfig(),
      check: (last) => {
        const now = externalConfig();
        return (
          last === undefined ||
          last.externalDomain !== now.externalDomain ||
          last.externalPort !== now.externalPort ||
          last.externalSecure !== now.externalSecure
        );
      },
      run: async (ctx) => {
        const now = externalConfig();
        const last = ctx.lastRun as ExternalConfig | undefined;
        ctx.log(last ? `external address changed: ${show(last)} -> ${show(now)}` : `external address recorded: ${show(now)}`);
      },
    }),
    // Projection prefill (ZITADEL's --init-projections, on by default): each step named after
    // its projection's table, after the steps that create projections.current_states and
    // failed_events2 (15, 17). `--no-init-projections` leaves them out.
    prefill(instances),
    prefill(orgs1),
    prefill(users14),
  ],
});
