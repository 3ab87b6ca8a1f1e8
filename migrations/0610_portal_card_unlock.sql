-- A card's admin key (unlock key): made by the portal for the card, written
-- onto the chip by the manufacturer; the portal answers the card's unlock
-- challenge with it.
create table portal_card_admin_key (
  card_id bigint primary key references portal_card (id),
  admin_key bytea not null,
  created_at timestamptz not null
);

-- Each unlock, and the mobile eID login it rests on: one login unlocks once.
create table portal_card_unlock (
  order_ref text primary key,
  card_id bigint not null references portal_card (id),
  holder_serial text not null,
  actor text not null,
  unlocked_at timestamptz not null
);
create index portal_card_unlock_card on portal_card_unlock (card_id);
