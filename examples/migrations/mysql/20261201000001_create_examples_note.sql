-- examples/migrate.rs: a table only the examples use (the `examples_` prefix keeps it
-- apart from anything the tests create in the same database).
CREATE TABLE examples_note (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
