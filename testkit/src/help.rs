//! `--help` shows no secret: run a service binary's help with a secret in every setting that
//! may carry one, and look for them in what it prints.

use std::process::Command;

/// A secret-bearing setting and a value whose secret part must never be printed.
const SECRETS: &[(&str, &str, &str)] = &[
    ("DATABASE_URL", "postgres://u:s3cretpw@h/db", "s3cretpw"),
    ("AMQP_URL", "amqp://u:amqps3cret@h:5672/%2f", "amqps3cret"),
    ("WARREN_SMTP_URL", "smtp://u:smtps3cret@h:25", "smtps3cret"),
    (
        "WARREN_ALERT_WEBHOOK_URL",
        "https://hooks.example/services/T0/B0/hooks3cret",
        "hooks3cret",
    ),
    (
        "WARREN_ALERT_WEBHOOK_SECRET",
        "whsec_alerts3cret",
        "alerts3cret",
    ),
    (
        "WARREN_RABBITMQ_MANAGEMENT_URL",
        "http://u:mgmts3cret@h:15672",
        "mgmts3cret",
    ),
];

/// Runs `binary -h` and `binary --help` with every secret setting in its environment, and
/// asserts that no secret, and no password of a default (`guest:guest`), is printed.
pub fn assert_help_hides_secrets(binary: &str) {
    assert_help_hides(binary, |command| {
        for (name, value, _) in SECRETS {
            command.env(name, value);
        }
    });
}

/// Like [`assert_help_hides_secrets`], with every secret read from a file named by
/// `<NAME>_FILE` (as Docker and Kubernetes mount secrets) instead.
pub fn assert_help_hides_secret_files(binary: &str) {
    let dir = std::env::temp_dir().join(crate::unique_name("warren_secrets"));
    std::fs::create_dir_all(&dir).expect("creating the secrets directory");
    assert_help_hides(binary, |command| {
        for (name, value, _) in SECRETS {
            let path = dir.join(name);
            std::fs::write(&path, format!("{value}\n")).expect("writing a secret file");
            command.env_remove(name).env(format!("{name}_FILE"), path);
        }
    });
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        eprintln!("removing {}: {error}", dir.display());
    }
}

fn assert_help_hides(binary: &str, with_secrets: impl Fn(&mut Command)) {
    for flag in ["-h", "--help"] {
        let mut command = Command::new(binary);
        command.arg(flag);
        with_secrets(&mut command);
        let output = command.output().expect("the binary runs");
        assert!(output.status.success(), "{binary} {flag} fails");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.contains("DATABASE_URL"),
            "{binary} {flag}: {printed}"
        );
        for (name, _, secret) in SECRETS {
            assert!(
                !printed.contains(secret),
                "{binary} {flag} prints the value of {name}"
            );
        }
        assert!(
            !printed.contains("guest:guest"),
            "{binary} {flag} prints a default password"
        );
    }
}
