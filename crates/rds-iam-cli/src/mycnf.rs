//! MySQL option files for `rds-iam exec`: the one it writes, and the user's it checks.
//!
//! `exec` cannot add options to an arbitrary command, so MySQL tools get the target and
//! verified TLS from an option file of rds-iam's own, `$MYSQL_HOME/my.cnf` (and
//! `$MARIADB_HOME`). The clients read it after `/etc/my.cnf` and `/etc/mysql/my.cnf`, so it
//! wins over those, but before `~/.my.cnf` (and Oracle's `~/.mylogin.cnf`), which would win
//! over it. So `exec` refuses, before signing, when `~/.my.cnf` or a file it includes sets
//! a key that would move the connection or weaken TLS, and when `~/.mylogin.cnf` exists.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::client::MySqlFlavor as Dialect;
use crate::guard::mysql_option_refused;

/// Where to connect and how, for the option file.
#[derive(Debug)]
pub(crate) struct Pinned<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) user: &'a str,
    pub(crate) database: Option<&'a str>,
    pub(crate) ca_file: &'a Path,
    pub(crate) empty_dir: &'a Path,
}

/// The text of rds-iam's `my.cnf`: `[client]` for every tool, the database only for the
/// interactive client (`mysqldump` has no such option). Never the token.
pub(crate) fn option_file(pinned: &Pinned<'_>, dialect: Dialect) -> String {
    let mut text =
        String::from("# Written by rds-iam exec; removed when the command exits.\n[client]\n");
    let _ = writeln!(text, "host={}", quote(pinned.host));
    let _ = writeln!(text, "port={}", pinned.port);
    let _ = writeln!(text, "user={}", quote(pinned.user));
    text.push_str("protocol=TCP\n");
    let _ = writeln!(text, "ssl-ca={}", quote(&pinned.ca_file.to_string_lossy()));
    let _ = writeln!(
        text,
        "ssl-capath={}",
        quote(&pinned.empty_dir.to_string_lossy())
    );
    match dialect {
        Dialect::MariaDb => text.push_str("ssl\nssl-verify-server-cert\n"),
        Dialect::MySql => text.push_str("ssl-mode=VERIFY_IDENTITY\n"),
    }
    if let Some(database) = pinned.database {
        let _ = write!(text, "[mysql]\ndatabase={}\n", quote(database));
    }
    text
}

/// An option file value in double quotes, with `\` and `"` escaped.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Refuses when the user's option files read after rds-iam's (`~/.my.cnf` and what it
/// includes, `~/.mylogin.cnf`) set a key rds-iam must decide. `home` is `$HOME`.
pub(crate) fn check_user_files(home: Option<&Path>) -> anyhow::Result<()> {
    let Some(home) = home else {
        return Ok(());
    };
    let login = home.join(".mylogin.cnf");
    if login.exists() {
        bail!(
            "{} exists: MySQL tools read it after rds-iam's option file, and rds-iam exec \
             cannot check it (it is obfuscated); move it away, or use rds-iam mysql",
            login.display()
        );
    }
    scan(&home.join(".my.cnf"), 0)
}

/// Refuses the command's own arguments that replace rds-iam's option file or add one read
/// after it: `--no-defaults` and `--defaults-file` (the tool would read neither rds-iam's
/// file nor its TLS settings, and fall back to unverified TLS), and `--defaults-extra-file`
/// unless the file it names passes the same check as `~/.my.cnf`.
pub(crate) fn check_command_args(args: &[OsString]) -> anyhow::Result<()> {
    for arg in args.iter().map(|a| a.to_string_lossy()) {
        let (name, value) = arg.split_once('=').unwrap_or((&arg, ""));
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            option @ ("--no-defaults" | "--defaults-file") => bail!(
                "{option} in the command is refused: the MySQL tool would skip rds-iam's \
                 option file, and with it the host the token is signed for and verified TLS; \
                 drop it (settings that do not choose the connection can go in ~/.my.cnf)"
            ),
            "--defaults-extra-file" if !value.is_empty() => scan(Path::new(value), 1)?,
            "--defaults-extra-file" => bail!(
                "--defaults-extra-file in the command needs its file after `=`, for rds-iam \
                 to check it: --defaults-extra-file=FILE"
            ),
            _ => {}
        }
    }
    Ok(())
}

fn scan(path: &Path, depth: u32) -> anyhow::Result<()> {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) if depth == 0 && err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read the MySQL option file {}", path.display()));
        }
    };
    if depth > 8 {
        bail!(
            "MySQL option files include each other too deeply at {}",
            path.display()
        );
    }
    let mut group = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("!includedir") {
            let dir = PathBuf::from(rest.trim());
            let mut files: Vec<PathBuf> = fs::read_dir(&dir)
                .with_context(|| {
                    format!(
                        "cannot read {} (included by {})",
                        dir.display(),
                        path.display()
                    )
                })?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.extension().is_some_and(|e| e == "cnf"))
                .collect();
            files.sort();
            for file in files {
                scan(&file, depth + 1)?;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("!include") {
            scan(Path::new(rest.trim()), depth + 1)?;
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            group = name.trim_end_matches(']').trim().to_owned();
            continue;
        }
        let key = line.split_once('=').map_or(line, |(key, _)| key);
        if mysql_option_refused(key).is_some() {
            bail!(
                "{} sets {} in [{group}]: MySQL tools read it after rds-iam's option file, so \
                 it could move the token to another server or weaken TLS; remove it (or run \
                 the tool with rds-iam mysql, whose command-line options win over it)",
                path.display(),
                key.trim()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("rds-iam-mycnf-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    #[test]
    fn the_option_file_pins_the_target_and_tls() {
        let pinned = Pinned {
            host: "db.x.us-east-1.rds.amazonaws.com",
            port: 3306,
            user: "app",
            database: Some("a\"b"),
            ca_file: Path::new("/tmp/d/ca.pem"),
            empty_dir: Path::new("/tmp/d/empty"),
        };
        let text = option_file(&pinned, Dialect::MariaDb);
        for line in [
            "host=\"db.x.us-east-1.rds.amazonaws.com\"",
            "port=3306",
            "user=\"app\"",
            "protocol=TCP",
            "ssl-ca=\"/tmp/d/ca.pem\"",
            "ssl-capath=\"/tmp/d/empty\"",
            "ssl-verify-server-cert",
            "database=\"a\\\"b\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        let text = option_file(&pinned, Dialect::MySql);
        assert!(
            text.lines().any(|l| l == "ssl-mode=VERIFY_IDENTITY"),
            "{text}"
        );
        assert!(!text.contains("ssl-verify-server-cert"), "{text}");
    }

    #[test]
    fn command_args_that_skip_rds_iams_option_file_are_refused() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        check_command_args(&args(&["-e", "select 1", "--defaults-group-suffix=_x"])).unwrap();
        for (list, needle) in [
            (
                &["--no-defaults", "-e", "select 1"][..],
                "--no-defaults in the command",
            ),
            (
                &["--defaults-file=/tmp/x.cnf"],
                "--defaults-file in the command",
            ),
            (
                &["--Defaults_File=/tmp/x.cnf"],
                "--defaults-file in the command",
            ),
            (&["--defaults-extra-file", "/tmp/x.cnf"], "after `=`"),
        ] {
            let err = check_command_args(&args(list)).unwrap_err().to_string();
            assert!(err.contains(needle), "{list:?}: {err}");
        }
        let extra = dir("extra");
        let file = extra.0.join("extra.cnf");
        fs::write(&file, "[client]\ndefault-character-set=utf8mb4\n").unwrap();
        let arg = format!("--defaults-extra-file={}", file.display());
        check_command_args(&args(&[&arg])).unwrap();
        fs::write(&file, "[client]\nport=1\n").unwrap();
        let err = check_command_args(&args(&[&arg])).unwrap_err().to_string();
        assert!(err.contains("extra.cnf sets port in [client]"), "{err}");
    }

    #[test]
    fn user_files_that_set_what_rds_iam_decides_are_refused() {
        let home = dir("refused");
        check_user_files(Some(&home.0)).unwrap();
        fs::write(
            home.0.join(".my.cnf"),
            "[client]\ndefault-character-set = utf8mb4\n[mysql]\nprompt=\\u@\\h> \nauto-rehash\n",
        )
        .unwrap();
        check_user_files(Some(&home.0)).unwrap();
        for (text, needle) in [
            ("[client]\nhost=evil\n", "host in [client]"),
            ("[mysqldump]\n port = 1\n", "port in [mysqldump]"),
            ("[client]\nskip-ssl\n", "skip-ssl"),
            ("[client]\nssl=0\n", "ssl in"),
            ("[client]\nssl_capath=/tmp\n", "ssl_capath"),
            (
                "[mariadb-client]\nloose-ssl-verify-server-cert=0\n",
                "loose-ssl-verify",
            ),
            ("[client]\nsocket=/tmp/s\n", "socket"),
            // The clients read keys in any case: `PORT=` is `port=`.
            ("[client]\nHOST=evil\n", "HOST in [client]"),
            ("[client]\ndns_srv_name=evil\n", "dns_srv_name in [client]"),
            ("[client]\nSsl_Ca=/tmp/x\n", "Ssl_Ca in [client]"),
        ] {
            fs::write(home.0.join(".my.cnf"), text).unwrap();
            let err = check_user_files(Some(&home.0)).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.contains(".my.cnf"), "{err}");
        }
        let included = dir("included");
        fs::write(included.0.join("x.cnf"), "[client]\nhost=evil\n").unwrap();
        fs::write(
            home.0.join(".my.cnf"),
            format!("!includedir {}\n", included.0.display()),
        )
        .unwrap();
        let err = check_user_files(Some(&home.0)).unwrap_err().to_string();
        assert!(err.contains("x.cnf sets host"), "{err}");
        fs::write(home.0.join(".my.cnf"), "").unwrap();
        fs::write(home.0.join(".mylogin.cnf"), "").unwrap();
        let err = check_user_files(Some(&home.0)).unwrap_err().to_string();
        assert!(err.contains(".mylogin.cnf exists"), "{err}");
    }
}
