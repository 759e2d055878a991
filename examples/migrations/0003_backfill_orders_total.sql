-- A backfill in one statement: long enough to show in the statement table.
ALTER TABLE orders ADD COLUMN total_eur numeric;
UPDATE orders SET total_eur = total_cents / 100.0 WHERE id > 0;
