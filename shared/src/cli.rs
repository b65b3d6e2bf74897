//! How a Warren binary reads its command line. Every secret setting (one whose value `--help`
//! hides) may instead be read from a file named by `<NAME>_FILE`, as Docker and Kubernetes
//! secrets are mounted; the file's text becomes the setting's hidden default, so clap
//! still parses, validates and hides it like any other value. Errors are one line on stderr
//! and a non-zero exit, and never show a secret.

use std::{
    ffi::{OsStr, OsString},
    path::PathBuf,
    process::ExitCode,
};

use clap::{ArgMatches, Command, Id, parser::ValueSource};

/// Why the secrets could not be read. Names variables and paths, never contents.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretFileError {
    /// `NAME` and `NAME_FILE` are both set: which one is meant is unclear.
    #[error("{name} and {name}_FILE are both set; set one of them")]
    Both {
        /// The setting's variable.
        name: String,
    },
    /// The flag was given as well as `NAME_FILE`.
    #[error("--{flag} and {name}_FILE are both given; give one of them")]
    FlagAndFile {
        /// The flag, without its dashes.
        flag: String,
        /// The setting's variable.
        name: String,
    },
    /// The file cannot be read (or is not UTF-8).
    #[error("{name}_FILE={}: cannot read it: {reason}", path.display())]
    Unreadable {
        /// The setting's variable.
        name: String,
        /// The file named.
        path: PathBuf,
        /// The operating system's (or the decoder's) reason.
        reason: String,
    },
}

/// A secret read from a file, and the argument it stands for.
#[derive(Debug)]
struct FromFile {
    id: Id,
    name: String,
    flag: Option<String>,
}

/// Parses the process's command line as `P` after reading `<NAME>_FILE` secrets; on any
/// error prints one line and exits (2, as clap does for a bad command line).
pub fn parse<P: clap::Parser>() -> P {
    let mut read = Vec::new();
    let command = with_secret_files(P::command(), &|name| std::env::var_os(name), &mut read)
        .unwrap_or_else(|error| exit_with(&error));
    let matches = command.get_matches();
    if let Err(error) = check_not_given_twice(&matches, &read) {
        exit_with(&error);
    }
    P::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// The end of a binary's `main`: success, or the error's chain on one line and exit 1.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn exit_with(error: &SecretFileError) -> ! {
    eprintln!("error: {error}");
    std::process::exit(2)
}

/// `command` with every secret argument of it and its subcommands whose `<NAME>_FILE` is set
/// given that file's text as its hidden default; `read` collects which ones were.
fn with_secret_files(
    mut command: Command,
    env: &dyn Fn(&OsStr) -> Option<OsString>,
    read: &mut Vec<FromFile>,
) -> Result<Command, SecretFileError> {
    let secrets: Vec<_> = command
        .get_arguments()
        .filter(|arg| arg.is_hide_env_values_set())
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            Some((
                arg.get_id().clone(),
                name,
                arg.get_long().map(str::to_owned),
            ))
        })
        .collect();
    for (id, name, flag) in secrets {
        if let Some(value) = read_secret(&name, env)? {
            command = command.mut_arg(&id, |arg| arg.default_value(value).hide_default_value(true));
            read.push(FromFile { id, name, flag });
        }
    }
    let subcommands: Vec<Command> = command.get_subcommands().cloned().collect();
    for subcommand in subcommands {
        let name = subcommand.get_name().to_owned();
        let loaded = with_secret_files(subcommand, env, read)?;
        command = command.mut_subcommand(name, |_| loaded);
    }
    Ok(command)
}

/// The text of the file `<name>_FILE` names, without its trailing newline; `None` when that
/// variable is not set.
fn read_secret(
    name: &str,
    env: &dyn Fn(&OsStr) -> Option<OsString>,
) -> Result<Option<String>, SecretFileError> {
    let Some(path) = env(OsStr::new(&format!("{name}_FILE"))) else {
        return Ok(None);
    };
    if env(OsStr::new(name)).is_some() {
        return Err(SecretFileError::Both { name: name.into() });
    }
    let path = PathBuf::from(path);
    let unreadable = |reason: String| SecretFileError::Unreadable {
        name: name.into(),
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|error| unreadable(error.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
}

/// A flag given on the command line wins over a default, so a secret file would be ignored
/// in silence: refuse that instead. Subcommands' secrets are looked up in their own matches.
fn check_not_given_twice(matches: &ArgMatches, read: &[FromFile]) -> Result<(), SecretFileError> {
    let mut levels = vec![matches];
    while let Some((_, sub)) = levels.last().and_then(|m| m.subcommand()) {
        levels.push(sub);
    }
    for secret in read {
        let given = levels.iter().any(|level| {
            matches!(level.try_get_raw(secret.id.as_str()), Ok(Some(_)))
                && level.value_source(secret.id.as_str()) == Some(ValueSource::CommandLine)
        });
        if given {
            return Err(SecretFileError::FlagAndFile {
                flag: secret.flag.clone().unwrap_or_else(|| secret.id.to_string()),
                name: secret.name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
