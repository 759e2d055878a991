-- An index built without CONCURRENTLY: it holds a SHARE lock on accounts, which blocks
-- every write to the table until the build finishes.
CREATE INDEX accounts_plan_idx ON accounts (plan);
