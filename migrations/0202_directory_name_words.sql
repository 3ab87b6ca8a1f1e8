-- Name search that yields the first N in order (surname, given name,
-- personnummer) without sorting every match. The prefix array of 0201 found
-- matches quickly but not in order: "pers" at 500,000 persons fetched and
-- sorted half a million rows (~500 ms). Here every distinct word of a
-- person's search_name is a row, and the btree on (word, surname,
-- given_name, personnummer) gives, for one word, its persons already in the
-- search order; a prefix expands to the few distinct words it covers.
--
-- The rows are kept by statement-level triggers over transition tables: one
-- set-based statement per written batch instead of a function call per row,
-- so a bulk sync pays little for them. The copied sort columns are refreshed
-- whenever a person's names or personnummer change.

create table directory_person_name_word (
  -- A lower-cased (Swedish rules) word of search_name; C collation so a prefix is a plain btree range.
  word text collate "C" not null,
  surname text not null,
  given_name text not null,
  personnummer text not null,
  person_id bigint not null
);
-- person_id rides along so the streams can read the index alone once vacuum has marked the pages visible.
create index directory_person_name_word_order on directory_person_name_word (word, surname, given_name, personnummer) include (person_id);
create index directory_person_name_word_person on directory_person_name_word (person_id);

create function directory_person_name_words_added() returns trigger
  language plpgsql
  as $$
    begin
      insert into directory_person_name_word (word, surname, given_name, personnummer, person_id)
        select distinct w.word, n.surname, n.given_name, n.personnummer, n.id
          from new_rows n, unnest(string_to_array(trim(n.search_name), ' ')) as w(word)
         where w.word <> '';
      return null;
    end
  $$;

create function directory_person_name_words_changed() returns trigger
  language plpgsql
  as $$
    begin
      -- One statement: the delete sees only the rows from before it, so it never removes those just inserted.
      with changed as (
        select n.* from new_rows n join old_rows o on o.id = n.id
         where (n.search_name, n.surname, n.given_name, n.personnummer) is distinct from (o.search_name, o.surname, o.given_name, o.personnummer)
      ), removed as (
        delete from directory_person_name_word w using changed c where w.person_id = c.id
      )
      insert into directory_person_name_word (word, surname, given_name, personnummer, person_id)
        select distinct w.word, c.surname, c.given_name, c.personnummer, c.id
          from changed c, unnest(string_to_array(trim(c.search_name), ' ')) as w(word)
         where w.word <> '';
      return null;
    end
  $$;

create function directory_person_name_words_removed() returns trigger
  language plpgsql
  as $$
    begin
      delete from directory_person_name_word w using old_rows o where w.person_id = o.id;
      return null;
    end
  $$;

create trigger directory_person_name_words_insert after insert on directory_person
  referencing new table as new_rows for each statement execute function directory_person_name_words_added();
create trigger directory_person_name_words_update after update on directory_person
  referencing old table as old_rows new table as new_rows for each statement execute function directory_person_name_words_changed();
create trigger directory_person_name_words_delete after delete on directory_person
  referencing old table as old_rows for each statement execute function directory_person_name_words_removed();

insert into directory_person_name_word (word, surname, given_name, personnummer, person_id)
  select distinct w.word, p.surname, p.given_name, p.personnummer, p.id
    from directory_person p, unnest(string_to_array(trim(p.search_name), ' ')) as w(word)
   where w.word <> '';

-- A prefix of very many different words ("a") matches densely: walking
-- every person in search order finds the first N soonest.
create index directory_person_search_order on directory_person (surname, given_name, personnummer);

-- The prefix array, its trigger and index are replaced; so is the btree on
-- search_name, which no read could use (every pattern starts with "% ").
drop trigger directory_person_prefixes on directory_person;
drop function directory_person_set_prefixes();
drop index directory_person_search_prefixes;
alter table directory_person drop column search_prefixes;
drop function directory_name_prefixes(text);
drop index directory_person_search;
