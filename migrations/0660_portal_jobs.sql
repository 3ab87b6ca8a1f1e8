-- The portal's scheduled jobs (issue 10).

-- The system revokes ordinary cards never activated: its revocation records name the channel 'system'.
alter table portal_revocation drop constraint portal_revocation_channel_check;
alter table portal_revocation add constraint portal_revocation_channel_check check (channel in ('phone', 'in-person', 'paper', 'self-service', 'system'));
create index portal_revocation_keep_until on portal_revocation (keep_until);

-- Role assignments whose holder has no matching commission: suggested for removal to the
-- issuers, never removed by the job. A row lives while the assignment stays current and unmatched.
create table portal_role_removal_suggestion (
  assignment_id bigint primary key references portal_role_assignment (id),
  organisation_hsa_id text not null,
  -- ['service identity ended'] or ['no current commission in the organisation'], ...
  reasons jsonb not null,
  first_suggested_at timestamptz not null,
  last_checked_at timestamptz not null
);
create index portal_role_removal_suggestion_organisation on portal_role_removal_suggestion (organisation_hsa_id);

-- Which expiry reminder steps (days before not_after) went to a function certificate's orderers, so each is sent once.
create table portal_function_certificate_reminder (
  serial text not null references portal_function_certificate (serial),
  step_days integer not null,
  sent_at timestamptz not null,
  recipients text[] not null,
  mail_ids bigint[] not null,
  primary key (serial, step_days)
);

-- The unactivated-card job finds sent cards by when their batch came back.
create index portal_card_sent on portal_card (batch_id) where status = 'sent';
create index portal_card_open_since on portal_card (ordered_at) where status in ('awaiting-confirmation', 'ordered');
