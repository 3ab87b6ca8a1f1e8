-- Facts about this installation as a whole (e.g. when the demo region was seeded).
create table system_state (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);
