//! Support code for the integration tests: where the test bed is and what it knows.
