-- Which expiry reminder steps (days before not_after) went out for which certificate, so each is sent once.
create table certificate_expiry_reminder (
  serial text not null,
  step_days integer not null,
  sent_at timestamptz not null,
  recipient text not null,
  mail_id bigint not null references mail_outbox (id),
  primary key (serial, step_days)
);
