//! `warren-deliver --help` shows no secret.

use warren_testkit::help::{assert_help_hides_secret_files, assert_help_hides_secrets};

#[test]
fn help_shows_no_secret_of_the_environment_or_the_defaults() {
    assert_help_hides_secrets(env!("CARGO_BIN_EXE_warren-deliver"));
}

#[test]
fn help_shows_no_secret_read_from_a_file() {
    assert_help_hides_secret_files(env!("CARGO_BIN_EXE_warren-deliver"));
}
