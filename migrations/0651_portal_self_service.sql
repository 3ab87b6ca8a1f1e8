-- Self-service ("Mina sidor", issue 9): a holder reports their own card lost (recorded as a
-- revocation request through the self-service channel) and extends a reserve card once.

alter table portal_revocation drop constraint portal_revocation_channel_check;
alter table portal_revocation add constraint portal_revocation_channel_check check (channel in ('phone', 'in-person', 'paper', 'self-service'));

-- One row per reserve card at most: the primary key is the "once".
create table portal_reserve_extension (
  card_id bigint primary key references portal_card (id),
  extended_by text not null,
  extended_at timestamptz not null,
  valid_until timestamptz not null
);
