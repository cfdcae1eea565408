/**
 * The PostgreSQL schema, as numbered migrations applied in order (database.ts). A migration is
 * never edited once released: the database records each one's checksum and a coordinator refuses
 * a schema whose recorded text differs from its own. Changes come as new migrations.
 * @module
 */

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'wallets, coordinator instances and leases',
    sql: `
-- One row per wallet id ever begun. Public data only, as in the embedded registry file.
--   pending:   key generation started (by owner_instance) and not committed
--   failed:    key generation failed; nodes may hold pending states under the id
--   committed: every node stored its share; public_key is the wallet's key
--   resolved:  a pending wallet every node archived: the id is dead
CREATE TABLE wallets (
  wallet_id text PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('pending', 'failed', 'committed', 'resolved')),
  label text,
  public_key text,
  started_at timestamptz,
  created_at timestamptz,
  idempotency_key_hash text UNIQUE,
  archived boolean NOT NULL DEFAULT false,
  purged boolean NOT NULL DEFAULT false,
  owner_instance uuid,
  -- the commit order, the listing order and the listing cursor
  commit_seq bigint UNIQUE,
  -- every write takes the next change number under one advisory lock, so change numbers are
  -- committed in order and a reader that saw change c has seen every change before it
  change_seq bigint NOT NULL UNIQUE,
  CHECK ((state = 'committed') = (public_key IS NOT NULL)),
  CHECK ((state = 'committed') = (commit_seq IS NOT NULL)),
  CHECK (NOT purged OR archived)
);
CREATE SEQUENCE wallet_change_seq;
CREATE SEQUENCE wallet_commit_seq;

-- Coordinator processes alive now: each one renews its row while it runs. A key generation whose
-- owner's row has expired was interrupted, and may be reconciled by any coordinator.
CREATE TABLE coordinator_instances (
  instance_id uuid PRIMARY KEY,
  coordinator_id text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  alive_until timestamptz NOT NULL
);

-- Background work that one coordinator at a time does (pool refill, scheduled refresh,
-- reconciliation, admin jobs): held by an instance until it expires or is released.
CREATE TABLE leases (
  name text PRIMARY KEY,
  holder uuid NOT NULL,
  expires_at timestamptz NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'quarantine journal and audit log',
    sql: `
-- The quarantine's records (src/coordinator/quarantine.ts), in one order for every coordinator:
-- every insert takes pg_advisory_xact_lock(quarantine) before its id, so ids are committed in
-- order and a reader that saw id n has seen every record before it. entry has the format of a
-- line of the embedded quarantine.jsonl.
CREATE TABLE quarantine_journal (
  id bigserial PRIMARY KEY,
  entry jsonb NOT NULL CHECK (jsonb_typeof(entry) = 'object'),
  instance_id uuid NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The hash-chained audit log of every coordinator (src/util/audit-log.ts): one chain, one record
-- per row, appended under pg_advisory_xact_lock(audit). time, prev, hash and event are the exact
-- text that is hashed (event in canonical JSON, as text: jsonb would re-encode it), so a verifier
-- recomputes every hash from the row. The writing coordinator is in the event (writer), where the
-- chain covers it; instance_id repeats it for queries.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  time text NOT NULL,
  prev text NOT NULL,
  hash text NOT NULL,
  event text NOT NULL,
  instance_id uuid NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 3,
    name: 'claims on interrupted key generations',
    sql: `
-- A pending row taken over by a reconciliation: owner_instance becomes the reconciling instance and
-- claimed_at is set, in one transaction that checks the former owner is not alive. From then on only
-- the claimant commits or resolves the row; the former owner (a coordinator that was paused, not
-- dead) finds its commit and abandon refused. A claimant that dies in turn leaves the row claimable.
ALTER TABLE wallets ADD COLUMN claimed_at timestamptz;
`,
  },
  {
    version: 4,
    name: 'presignature inventory',
    sql: `
-- The presignature inventory (src/coordinator/store/presign-inventory.ts): the public parts of the
-- presignatures the nodes hold, claimed once across coordinators.
--   making:    a reservation: a coordinator is making one for (wallet_id, signers) until expires_at
--   ready:     entry holds the stored entry (the nodes' public presignature); claimable
--   claimed:   handed out to one sign request (kept a while: an id is never admitted twice)
--   discarded: burnt at the nodes (a newer key share or aux-info), never handed out
CREATE TABLE presignatures (
  id text PRIMARY KEY,
  wallet_id text NOT NULL,
  signers text NOT NULL,
  state text NOT NULL CHECK (state IN ('making', 'ready', 'claimed', 'discarded')),
  entry jsonb,
  instance_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  changed_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'making') = (entry IS NULL)),
  CHECK ((state = 'making') = (expires_at IS NOT NULL))
);
CREATE INDEX presignatures_open ON presignatures (wallet_id, signers, created_at) WHERE state IN ('making', 'ready');
CREATE INDEX presignatures_spent ON presignatures (changed_at) WHERE state IN ('claimed', 'discarded');
`,
  },
  {
    version: 5,
    name: 'admin jobs',
    sql: `
-- Admin jobs (rotation, reshare; src/coordinator/store/jobs-pg.ts): one running at a time across the
-- coordinators, and each job's progress readable at any of them. A running row whose instance is no
-- longer alive is a job its coordinator never finished.
CREATE TABLE admin_jobs (
  job_id text PRIMARY KEY,
  kind text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  instance_id uuid NOT NULL,
  view jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_jobs_running ON admin_jobs (job_id) WHERE status = 'running';
`,
  },
];
