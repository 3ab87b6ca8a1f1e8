-- Scheduled jobs (issue 10): one row per job that any node has seen, claimed
-- with `for update skip locked` so that one node at a time runs a job; a run
-- holds the job through a lease it renews, so a node that dies frees it.
create table job_state (
  job text primary key,
  first_seen_at timestamptz not null,
  -- When the scheduler last started it; the schedule counts from here.
  last_scheduled_at timestamptz,
  running_run_id bigint,
  lease_until timestamptz
);

-- Every run, by schedule or by hand, dry or not.
create table job_run (
  id bigint generated always as identity primary key,
  job text not null,
  node text not null,
  trigger text not null check (trigger in ('schedule', 'manual')),
  dry_run boolean not null,
  started_at timestamptz not null,
  finished_at timestamptz,
  outcome text not null check (outcome in ('running', 'succeeded', 'failed', 'abandoned')),
  summary jsonb,
  error text
);
create index job_run_latest on job_run (job, id desc);
