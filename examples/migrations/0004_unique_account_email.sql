-- Fails on production data: some e-mail addresses repeat.
ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
