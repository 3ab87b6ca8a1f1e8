-- E-mail (issue 10): messages are written here in the caller's transaction,
-- rendered in the recipient's language; the mail-sender job delivers them.
-- A failed delivery is retried with backoff; after mail.maxAttempts it is a
-- dead letter, kept with its last error until someone retries it by hand.
create table mail_outbox (
  id bigint generated always as identity primary key,
  created_at timestamptz not null,
  template text not null,
  locale text not null check (locale in ('sv', 'en')),
  recipient text not null,
  subject text not null,
  text_body text not null,
  html_body text not null,
  status text not null default 'pending' check (status in ('pending', 'sent', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  last_error text,
  sent_at timestamptz,
  dead_at timestamptz,
  smtp_message_id text
);
create index mail_outbox_due on mail_outbox (next_attempt_at, id) where status = 'pending';
create index mail_outbox_dead on mail_outbox (dead_at desc) where status = 'dead';

-- A recipient's chosen language; without a row, Swedish.
create table mail_recipient (
  address text primary key,
  locale text not null check (locale in ('sv', 'en')),
  updated_at timestamptz not null
);
