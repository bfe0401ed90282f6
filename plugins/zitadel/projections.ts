/**
 * Three of ZITADEL's projections as `ProjectionSpec`s: `projections.instances`,
 * `projections.orgs1` and `projections.users14` (with `users14_humans`, `users14_machines`,
 * `users14_notifications`), for the event types the prefill work covers.
 *
 * Sources (read through the code index and a fetched fork, 2 December 2026):
 * - Tables, columns, keys, indexes and reducers:
 *   zitadel/zitadel internal/query/projection/instance.go (commit 2ee9fd83) and org.go (the
 *   handler/v2 version in the index), checked against the same files of the fork
 *   Tualua/zitadel-ldapfix at e923f4fa (a copy of ZITADEL main of 28 August 2025, setup step
 *   60); user.go of users14 from that fork, whose statements match zitadel/zitadel
 *   internal/query/projection/user_test.go (commit 01857b73, expected SQL on users14*). The
 *   index holds no users14 version of user.go in zitadel/zitadel itself, and no users15
 *   anywhere.
 * - DDL conventions: internal/eventstore/handler/v2/init.go (fork): NOT NULL unless
 *   Nullable(), ColumnTypeEnum = SMALLINT, ColumnTypeInt64 = BIGINT, a suffixed table's FK is
 *   its primary key REFERENCES the main table's primary key ON DELETE CASCADE, an index is
 *   `<table>_<name>_idx`.
 * - Payload fields: the json tags of internal/repository/{instance,org,user} (fork): e.g.
 *   `userName`, `firstName`, `email`, `phone`, `encodedHash`, `secret`, `changeRequired`,
 *   `orgId`, `iamProjectId`, `clientId`, `appId`, `language`, `domain`, `name`. Go's
 *   encoding/json matches keys case-insensitively (ZITADEL's own tests feed `"username"`),
 *   so `field()` below does too, and a value of the wrong JSON type fails the event as the
 *   event mapper would (the reducer throws: a failed event).
 *
 * Deviations, on purpose or forced:
 * - Only the event types of the brief are reduced. ZITADEL's users14 also reduces profile,
 *   phone, password, avatar, init code, MFA and machine secret events (about 40 types), so a
 *   table filled from these specs alone is not ZITADEL's table; nor is the checkpoint
 *   (ZITADEL's reads the last event of its own, longer, type list).
 * - `user.human.email.verified` copies last_email to verified_email as ZITADEL's
 *   handler.NewCopyCol does (`copyOf` in the model).
 * - `preferredLanguage` / `language` are language.Tag values in ZITADEL (parsed and
 *   canonicalized by golang.org/x/text/language). Here: case is canonicalized (en-us ->
 *   en-US, latn -> Latn); alias mapping (iw -> he) and full validation are not done; an empty
 *   or absent tag is "und" (root: NULL in users14_humans.preferred_language).
 * - users14_humans has the index `users14_humans_email_idx ON (instance_id, LOWER(email))`:
 *   an expression, given as the column `LOWER(email)` (the DDL must not quote it).
 * - users14_notifications.verified_email_lower (generated: lower(verified_email)) and its index
 *   users14_notifications_email_search are not in user.go's Init() but in setup step 25
 *   (cmd/setup/25.sql), which runs after projection_tables and before the prefill: every
 *   real table has them, so the table here does too.
 * - Timestamps (creation_date, change_date, password_changed, the checkpoint's event_date)
 *   are the event's created_at to the microsecond, as Go's time.Time writes it (EventTime).
 */
import { copyOf, type Change, type ProjectionSpec, type Reducer, type Row, type StoredEvent, type TableSpec } from '../projections/model.js';

// ---- payload access as Go's encoding/json does it ----------------------------------------

/** Field names lower-cased, once each. */
const lowered = new Map<string, string>();

/**
 * The payload's value for a Go field with json tag `name`: Go's encoding/json matches keys
 * case-insensitively, and of several keys that match, the last one in the JSON text wins.
 */
function field(event: StoredEvent, name: string): unknown {
  const p = event.payload;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return undefined;
  let lower = lowered.get(name);
  if (lower === undefined) lowered.set(name, (lower = name.toLowerCase()));
  let found: unknown;
  for (const k in p as Record<string, unknown>) if (k.length === name.length && (k === name || k.toLowerCase() === lower)) found = (p as Record<string, unknown>)[k];
  return found;
}

function typeError(event: StoredEvent, name: string, want: string, got: unknown): Error {
  return new Error(
    `${event.eventType} (${event.aggregateType} ${event.aggregateId}, sequence ${event.sequence}): payload field ${name} must be ${want}, got ${JSON.stringify(got)}`,
  );
}

/** A Go `string` field: absent or null -> "". */
function str(event: StoredEvent, name: string): string {
  const v = field(event, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw typeError(event, name, 'a string', v);
  return v;
}

/** A Go `bool` field: absent or null -> false. */
function bool(event: StoredEvent, name: string): boolean {
  const v = field(event, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw typeError(event, name, 'a boolean', v);
  return v;
}

/** A Go `int32` field (an enum): absent or null -> 0. */
function int(event: StoredEvent, name: string): number {
  const v = field(event, name);
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw typeError(event, name, 'an int32', v);
  return v;
}

/** A language.Tag field, as its String(): "und" when absent or empty. */
function languageTag(event: StoredEvent, name: string): string {
  const v = str(event, name).replace(/_/g, '-');
  if (v === '') return 'und';
  if (!/^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(v)) throw typeError(event, name, 'a BCP 47 language tag', v);
  return v
    .split('-')
    .map((part, i) => {
      if (i === 0) return part.toLowerCase();
      if (part.length === 4 && /^[A-Za-z]+$/.test(part)) return part[0]!.toUpperCase() + part.slice(1).toLowerCase();
      if (part.length === 2 || /^\d{3}$/.test(part)) return part.toUpperCase();
      return part.toLowerCase();
    })
    .join('-');
}

/** sql.NullString{String: s, Valid: s != ""}. */
const nullIfEmpty = (s: string): string | null => (s === '' ? null : s);

/**
 * crypto.SecretOrEncodedHash(e.Secret, e.EncodedHash) != "": the legacy `secret` CryptoValue
 * when present (its Crypted bytes, base64 in JSON), else `encodedHash`.
 */
function passwordSet(event: StoredEvent): boolean {
  const secret = field(event, 'secret');
  if (secret !== undefined && secret !== null) {
    if (typeof secret !== 'object' || Array.isArray(secret)) throw typeError(event, 'secret', 'a CryptoValue object', secret);
    let crypted: unknown = undefined;
    for (const [k, v] of Object.entries(secret as Record<string, unknown>)) if (k.toLowerCase() === 'crypted') crypted = v;
    if (crypted === undefined || crypted === null) return false;
    if (typeof crypted !== 'string') throw typeError(event, 'secret.Crypted', 'base64 text', crypted);
    return crypted !== '';
  }
  return str(event, 'encodedHash') !== '';
}

const list = (...changes: Change[]): readonly Change[] => changes;

// ---- projections.instances ----------------------------------------------------------------

const INSTANCES = 'projections.instances';

const instancesTable: TableSpec = {
  name: INSTANCES,
  columns: [
    { name: 'id', type: 'text' },
    { name: 'name', type: 'text', default: "''" },
    { name: 'change_date', type: 'timestamptz' },
    { name: 'creation_date', type: 'timestamptz' },
    { name: 'default_org_id', type: 'text', default: "''" },
    { name: 'iam_project_id', type: 'text', default: "''" },
    { name: 'console_client_id', type: 'text', default: "''" },
    { name: 'console_app_id', type: 'text', default: "''" },
    { name: 'sequence', type: 'bigint' },
    { name: 'default_language', type: 'text', default: "''" },
  ],
  primaryKey: ['id'],
};

/** UPDATE instances SET change_date, sequence, ... WHERE id = the event's instance. */
const instanceUpdate = (e: StoredEvent, set: Row): Change => ({
  op: 'update',
  table: INSTANCES,
  key: { id: e.instanceId },
  set: { change_date: e.createdAt, sequence: e.sequence, ...set },
});

export const instances: ProjectionSpec = {
  name: INSTANCES,
  tables: [instancesTable],
  reducers: {
    instance: {
      // reduceInstanceAdded: create; id is the event's instance id.
      'instance.added': (e) => ({
        op: 'insert',
        table: INSTANCES,
        row: { id: e.instanceId, creation_date: e.createdAt, change_date: e.createdAt, sequence: e.sequence, name: str(e, 'name') },
      }),
      // reduceInstanceChanged: the name is set even when empty.
      'instance.changed': (e) => instanceUpdate(e, { name: str(e, 'name') }),
      // reduceInstanceRemovedHelper(InstanceColumnID): DELETE WHERE id = aggregate id.
      'instance.removed': (e) => ({ op: 'delete', table: INSTANCES, key: { id: e.aggregateId } }),
      'instance.default.org.set': (e) => instanceUpdate(e, { default_org_id: str(e, 'orgId') }),
      'instance.iam.project.set': (e) => instanceUpdate(e, { iam_project_id: str(e, 'iamProjectId') }),
      'instance.iam.console.set': (e) => instanceUpdate(e, { console_client_id: str(e, 'clientId'), console_app_id: str(e, 'appId') }),
      'instance.default.language.set': (e) => instanceUpdate(e, { default_language: languageTag(e, 'language') }),
    },
  },
};

// ---- projections.orgs1 --------------------------------------------------------------------

const ORGS = 'projections.orgs1';

/** domain.OrgState */
const OrgStateActive = 1;
const OrgStateInactive = 2;

const orgsTable: TableSpec = {
  name: ORGS,
  columns: [
    { name: 'id', type: 'text' },
    { name: 'creation_date', type: 'timestamptz' },
    { name: 'change_date', type: 'timestamptz' },
    { name: 'resource_owner', type: 'text' },
    { name: 'instance_id', type: 'text' },
    { name: 'org_state', type: 'smallint' },
    { name: 'sequence', type: 'bigint' },
    { name: 'name', type: 'text' },
    { name: 'primary_domain', type: 'text', default: "''" },
  ],
  primaryKey: ['instance_id', 'id'],
  indexes: [
    { name: 'domain', columns: ['primary_domain'] },
    { name: 'name', columns: ['name'] },
  ],
};

/** UPDATE orgs1 SET change_date, sequence, ... WHERE id = aggregate id AND instance_id. */
const orgUpdate = (e: StoredEvent, set: Row): Change => ({
  op: 'update',
  table: ORGS,
  key: { instance_id: e.instanceId, id: e.aggregateId },
  set: { change_date: e.createdAt, sequence: e.sequence, ...set },
});

export const orgs1: ProjectionSpec = {
  name: ORGS,
  tables: [orgsTable],
  reducers: {
    org: {
      'org.added': (e) => ({
        op: 'insert',
        table: ORGS,
        row: {
          id: e.aggregateId,
          creation_date: e.createdAt,
          change_date: e.createdAt,
          resource_owner: e.owner,
          instance_id: e.instanceId,
          sequence: e.sequence,
          name: str(e, 'name'),
          org_state: OrgStateActive,
        },
      }),
      // reduceOrgChanged: a no-op statement when the name is empty.
      'org.changed': (e) => {
        const name = str(e, 'name');
        return name === '' ? undefined : orgUpdate(e, { name });
      },
      'org.deactivated': (e) => orgUpdate(e, { org_state: OrgStateInactive }),
      'org.reactivated': (e) => orgUpdate(e, { org_state: OrgStateActive }),
      'org.domain.primary.set': (e) => orgUpdate(e, { primary_domain: str(e, 'domain') }),
      'org.removed': (e) => ({ op: 'delete', table: ORGS, key: { instance_id: e.instanceId, id: e.aggregateId } }),
    },
    instance: {
      // reduceInstanceRemovedHelper(OrgColumnInstanceID): DELETE WHERE instance_id = aggregate id.
      'instance.removed': (e) => ({ op: 'deleteWhere', table: ORGS, where: { instance_id: e.aggregateId } }),
    },
  },
};

// ---- projections.users14 ------------------------------------------------------------------

const USERS = 'projections.users14';
const HUMANS = 'projections.users14_humans';
const MACHINES = 'projections.users14_machines';
const NOTIFICATIONS = 'projections.users14_notifications';

/** domain.UserState */
const UserStateActive = 1;
const UserStateInactive = 2;
const UserStateLocked = 4;
/** domain.UserType */
const UserTypeHuman = 1;
const UserTypeMachine = 2;

/** A suffixed table: keyed (instance_id, user_id), FK to users14 ON DELETE CASCADE. */
const childOfUsers = {
  table: USERS,
  columns: ['instance_id', 'user_id'],
  references: ['instance_id', 'id'],
} as const;

const usersTable: TableSpec = {
  name: USERS,
  columns: [
    { name: 'id', type: 'text' },
    { name: 'creation_date', type: 'timestamptz' },
    { name: 'change_date', type: 'timestamptz' },
    { name: 'sequence', type: 'bigint' },
    { name: 'state', type: 'smallint' },
    { name: 'resource_owner', type: 'text' },
    { name: 'instance_id', type: 'text' },
    { name: 'username', type: 'text' },
    { name: 'type', type: 'smallint' },
  ],
  primaryKey: ['instance_id', 'id'],
  indexes: [
    { name: 'username', columns: ['username'] },
    { name: 'resource_owner', columns: ['resource_owner'] },
  ],
};

const humansTable: TableSpec = {
  name: HUMANS,
  columns: [
    { name: 'user_id', type: 'text' },
    { name: 'instance_id', type: 'text' },
    { name: 'first_name', type: 'text' },
    { name: 'last_name', type: 'text' },
    { name: 'nick_name', type: 'text', nullable: true },
    { name: 'display_name', type: 'text', nullable: true },
    { name: 'preferred_language', type: 'text', nullable: true },
    { name: 'gender', type: 'smallint', nullable: true },
    { name: 'avatar_key', type: 'text', nullable: true },
    { name: 'email', type: 'text' },
    { name: 'is_email_verified', type: 'boolean', default: 'false' },
    { name: 'phone', type: 'text', nullable: true },
    { name: 'is_phone_verified', type: 'boolean', nullable: true },
    { name: 'password_change_required', type: 'boolean' },
    { name: 'password_changed', type: 'timestamptz', nullable: true },
    { name: 'mfa_init_skipped', type: 'timestamptz', nullable: true },
  ],
  primaryKey: ['instance_id', 'user_id'],
  parent: childOfUsers,
  indexes: [{ name: 'email', columns: ['instance_id', 'LOWER(email)'] }],
};

const machinesTable: TableSpec = {
  name: MACHINES,
  columns: [
    { name: 'user_id', type: 'text' },
    { name: 'instance_id', type: 'text' },
    { name: 'name', type: 'text' },
    { name: 'description', type: 'text', nullable: true },
    { name: 'secret', type: 'text', nullable: true },
    { name: 'access_token_type', type: 'smallint', default: '0' },
  ],
  primaryKey: ['instance_id', 'user_id'],
  parent: childOfUsers,
};

const notificationsTable: TableSpec = {
  name: NOTIFICATIONS,
  columns: [
    { name: 'user_id', type: 'text' },
    { name: 'instance_id', type: 'text' },
    { name: 'last_email', type: 'text', nullable: true },
    { name: 'verified_email', type: 'text', nullable: true },
    { name: 'last_phone', type: 'text', nullable: true },
    { name: 'verified_phone', type: 'text', nullable: true },
    { name: 'password_set', type: 'boolean', default: 'false' },
    // Setup step 25 (cmd/setup/25.sql) adds it before ZITADEL prefills: every real table has it.
    { name: 'verified_email_lower', type: 'text', generated: 'lower(verified_email)' },
  ],
  primaryKey: ['instance_id', 'user_id'],
  parent: childOfUsers,
  indexes: [{ name: 'email_search', fullName: 'users14_notifications_email_search', columns: ['instance_id', 'verified_email_lower'] }],
};

const userKey = (e: StoredEvent): Row => ({ instance_id: e.instanceId, id: e.aggregateId });
const childKey = (e: StoredEvent): Row => ({ instance_id: e.instanceId, user_id: e.aggregateId });

/** reduceHumanEmailChanged. */
function emailChanged(e: StoredEvent): readonly Change[] {
  const email = str(e, 'email');
  return list(
    userUpdate(e),
    { op: 'update', table: HUMANS, key: childKey(e), set: { email, is_email_verified: false } },
    { op: 'update', table: NOTIFICATIONS, key: childKey(e), set: { last_email: nullIfEmpty(email) } },
  );
}

/** reduceHumanEmailVerified. */
function emailVerified(e: StoredEvent): readonly Change[] {
  return list(
    userUpdate(e),
    { op: 'update', table: HUMANS, key: childKey(e), set: { is_email_verified: true } },
    // ZITADEL: UPDATE users14_notifications SET verified_email = last_email (handler.NewCopyCol).
    { op: 'update', table: NOTIFICATIONS, key: childKey(e), set: { verified_email: copyOf('last_email') } },
  );
}

/** The users14 row of an added user (state active). */
const userRow = (e: StoredEvent, type: number): Row => ({
  id: e.aggregateId,
  creation_date: e.createdAt,
  change_date: e.createdAt,
  resource_owner: e.owner,
  instance_id: e.instanceId,
  state: UserStateActive,
  sequence: e.sequence,
  username: str(e, 'userName'),
  type,
});

/** UPDATE users14 SET change_date, sequence, ... WHERE id AND instance_id. */
const userUpdate = (e: StoredEvent, set: Row = {}): Change => ({
  op: 'update',
  table: USERS,
  key: userKey(e),
  set: { change_date: e.createdAt, sequence: e.sequence, ...set },
});

/** reduceHumanAdded and reduceHumanRegistered (identical): users14 + humans + notifications. */
const humanAdded: Reducer = (e) => {
  const email = str(e, 'email');
  const phone = str(e, 'phone');
  const language = languageTag(e, 'preferredLanguage');
  const gender = int(e, 'gender');
  const pwSet = passwordSet(e);
  return list(
    { op: 'insert', table: USERS, row: userRow(e, UserTypeHuman) },
    {
      op: 'insert',
      table: HUMANS,
      row: {
        user_id: e.aggregateId,
        instance_id: e.instanceId,
        first_name: str(e, 'firstName'),
        last_name: str(e, 'lastName'),
        nick_name: nullIfEmpty(str(e, 'nickName')),
        display_name: nullIfEmpty(str(e, 'displayName')),
        preferred_language: language === 'und' ? null : language,
        // Gender.Specified(): female 1, male 2, diverse 3.
        gender: gender > 0 && gender < 4 ? gender : null,
        email,
        phone: nullIfEmpty(phone),
        password_change_required: bool(e, 'changeRequired'),
        password_changed: pwSet ? e.createdAt : null,
      },
    },
    {
      op: 'insert',
      table: NOTIFICATIONS,
      // last_email is the plain string (not NULL when empty), last_phone a NullString.
      row: { user_id: e.aggregateId, instance_id: e.instanceId, last_email: email, last_phone: nullIfEmpty(phone), password_set: pwSet },
    },
  );
};

const setUserState =
  (state: number): Reducer =>
  (e) =>
    userUpdate(e, { state });

const setUsername: Reducer = (e) => userUpdate(e, { username: str(e, 'userName') });

export const users14: ProjectionSpec = {
  name: USERS,
  tables: [usersTable, humansTable, machinesTable, notificationsTable],
  reducers: {
    user: {
      'user.added': humanAdded,
      'user.human.added': humanAdded,
      'user.selfregistered': humanAdded,
      'user.human.selfregistered': humanAdded,
      'user.machine.added': (e) => {
        const description = str(e, 'description');
        return list(
          { op: 'insert', table: USERS, row: userRow(e, UserTypeMachine) },
          {
            op: 'insert',
            table: MACHINES,
            row: {
              user_id: e.aggregateId,
              instance_id: e.instanceId,
              name: str(e, 'name'),
              description: nullIfEmpty(description),
              access_token_type: int(e, 'accessTokenType'),
            },
          },
        );
      },
      'user.locked': setUserState(UserStateLocked),
      'user.unlocked': setUserState(UserStateActive),
      'user.deactivated': setUserState(UserStateInactive),
      'user.reactivated': setUserState(UserStateActive),
      'user.removed': (e) => ({ op: 'delete', table: USERS, key: userKey(e) }),
      'user.username.changed': setUsername,
      'user.domain.claimed': setUsername,
      'user.human.email.changed': emailChanged,
      'user.human.email.verified': emailVerified,
      // The v1 types, reduced the same way (UserV1EmailChangedType, UserV1EmailVerifiedType).
      'user.email.changed': emailChanged,
      'user.email.verified': emailVerified,
    },
    org: {
      // reduceOwnerRemoved: DELETE WHERE instance_id AND resource_owner = the org's id.
      'org.removed': (e) => ({ op: 'deleteWhere', table: USERS, where: { instance_id: e.instanceId, resource_owner: e.aggregateId } }),
    },
    instance: {
      // reduceInstanceRemovedHelper(UserInstanceIDCol): DELETE WHERE instance_id = aggregate id.
      'instance.removed': (e) => ({ op: 'deleteWhere', table: USERS, where: { instance_id: e.aggregateId } }),
    },
  },
};
