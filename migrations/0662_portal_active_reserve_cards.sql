-- The expired-reserve-cards job reads every active reserve card each hour: few among all cards ever made.
create index portal_card_active_reserve on portal_card (id) where kind = 'reserve' and status = 'active';
