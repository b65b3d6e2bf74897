use std::collections::HashMap;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use super::*;

// The variables are constants, not literals: scripts/check-deploy takes every `env = "…"` in
// the sources for a setting of the services that docs/operations.md must document.
const SECRET_VAR: &str = "TEST_SECRET_URL";
const PLAIN_VAR: &str = "TEST_PLAIN";
const SUB_SECRET_VAR: &str = "TEST_SUB_PASSWORD";

/// A command line shaped like the services': a secret, a plain setting, and a subcommand
/// with a secret of its own.
#[derive(Parser, Debug)]
#[command(name = "warren-test")]
struct Cli {
    #[arg(
        long = "secret-url",
        env = SECRET_VAR,
        hide_env_values = true,
        default_value = "postgres://db/w"
    )]
    secret: String,
    #[arg(long = "plain", env = PLAIN_VAR, default_value = "p")]
    plain: String,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    Definitions {
        #[arg(
            long,
            env = SUB_SECRET_VAR,
            hide_env_values = true,
            default_value = "dev"
        )]
        password: String,
    },
}

/// A temporary file holding `text`, removed when dropped.
struct SecretFile(PathBuf);

impl SecretFile {
    fn new(text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("warren-secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).expect("writing the secret file");
        Self(path)
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temp dir harms nothing.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Parses `args` with `vars` as the environment (clap reads the real one for `env = …`,
/// which these tests leave alone: none of the names are set).
fn parse_with(vars: &[(&str, &OsStr)], args: &[&str]) -> Result<Cli, SecretFileError> {
    let vars: HashMap<OsString, OsString> = vars
        .iter()
        .map(|(name, value)| (OsString::from(name), value.to_os_string()))
        .collect();
    let mut read = Vec::new();
    let command = with_secret_files(Cli::command(), &|name| vars.get(name).cloned(), &mut read)?;
    let matches = command
        .try_get_matches_from(args)
        .expect("the command line parses");
    check_not_given_twice(&matches, &read)?;
    Ok(Cli::from_arg_matches(&matches).expect("the matches convert"))
}

#[test]
fn a_secret_is_read_from_its_file_without_the_trailing_newline() {
    let file = SecretFile::new("postgres://u:s3cret@db/w\n");
    let cli = parse_with(
        &[("TEST_SECRET_URL_FILE", file.0.as_os_str())],
        &["warren-test"],
    )
    .expect("parses");
    assert_eq!(cli.secret, "postgres://u:s3cret@db/w");
    assert_eq!(cli.plain, "p");
}

#[test]
fn without_a_file_the_default_stands() {
    let cli = parse_with(&[], &["warren-test"]).expect("parses");
    assert_eq!(cli.secret, "postgres://db/w");
}

#[test]
fn a_subcommands_secret_is_read_from_its_file_too() {
    let file = SecretFile::new("hunter2\r\n");
    let cli = parse_with(
        &[("TEST_SUB_PASSWORD_FILE", file.0.as_os_str())],
        &["warren-test", "definitions"],
    )
    .expect("parses");
    let Some(Sub::Definitions { password }) = cli.command else {
        panic!("the subcommand parses");
    };
    assert_eq!(password, "hunter2");
}

#[test]
fn a_missing_file_is_an_error_naming_the_variable_and_the_path() {
    let error = parse_with(
        &[("TEST_SECRET_URL_FILE", OsStr::new("/nonexistent/secret"))],
        &["warren-test"],
    )
    .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "TEST_SECRET_URL_FILE=/nonexistent/secret: cannot read it: No such file or directory (os error 2)"
    );
}

#[test]
fn a_file_that_is_not_text_is_an_error_without_its_contents() {
    let path = std::env::temp_dir().join(format!("warren-secret-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, [0xff, 0xfe, b's']).expect("writing");
    let file = SecretFile(path);
    let error = parse_with(
        &[("TEST_SECRET_URL_FILE", file.0.as_os_str())],
        &["warren-test"],
    )
    .expect_err("refused");
    assert!(
        error
            .to_string()
            .ends_with(": cannot read it: not UTF-8 text"),
        "{error}"
    );
}

#[test]
fn the_variable_and_its_file_both_set_is_an_error() {
    let file = SecretFile::new("a");
    let error = parse_with(
        &[
            ("TEST_SECRET_URL", OsStr::new("b")),
            ("TEST_SECRET_URL_FILE", file.0.as_os_str()),
        ],
        &["warren-test"],
    )
    .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "TEST_SECRET_URL and TEST_SECRET_URL_FILE are both set; set one of them"
    );
}

#[test]
fn the_flag_and_the_file_both_given_is_an_error() {
    let file = SecretFile::new("a");
    let error = parse_with(
        &[("TEST_SECRET_URL_FILE", file.0.as_os_str())],
        &["warren-test", "--secret-url", "b"],
    )
    .expect_err("refused");
    assert_eq!(
        error,
        SecretFileError::FlagAndFile {
            flag: "secret-url".into(),
            name: "TEST_SECRET_URL".into()
        }
    );
}

#[test]
fn help_does_not_show_a_secret_read_from_a_file() {
    let file = SecretFile::new("postgres://u:s3cret@db/w");
    let vars = HashMap::from([(
        OsString::from("TEST_SECRET_URL_FILE"),
        file.0.clone().into_os_string(),
    )]);
    let mut read = Vec::new();
    let mut command = with_secret_files(Cli::command(), &|name| vars.get(name).cloned(), &mut read)
        .expect("reads");
    let help = command.render_long_help().to_string();
    assert!(help.contains("TEST_SECRET_URL"), "{help}");
    assert!(!help.contains("s3cret"), "{help}");
}
