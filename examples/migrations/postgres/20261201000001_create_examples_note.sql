-- examples/migrate.rs: a table only the examples use (the `examples_` prefix keeps it
-- apart from anything the tests create in the same database).
CREATE TABLE examples_note (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
