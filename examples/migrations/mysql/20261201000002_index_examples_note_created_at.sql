-- A second step, so that the migrator has an order to keep.
CREATE INDEX examples_note_created_at ON examples_note (created_at);
