//! The command line of `rds-iam token`, read without clap when it is plainly well formed.
//!
//! Building clap's command and matching against it was about 40% of what `rds-iam
//! token` executes from `main` on (valgrind callgrind), for a command that is run once
//! per connection in scripts. [`parse`] reads the common shapes of that one command
//! directly and gives up (`None`) on anything else: other commands, `--help`, repeated
//! or unknown flags, values that are empty or start with `-`, a port or time that does
//! not parse. clap then reads the command line as always, so every error, help text and
//! other command still comes from clap. A test checks on thousands of command lines that
//! whenever this parser answers, clap gives the same [`Args`].

use std::ffi::OsString;

use crate::args::{Args, AwsOpts, Command, TokenArgs};

/// `args` (with the program name first) as [`Args`] for `token` /
/// `generate-db-auth-token`, or `None` when clap must read it.
pub(crate) fn parse(args: &[OsString]) -> Option<Args> {
    let mut verbose: u8 = 0;
    let mut words = args.iter().skip(1).map(|arg| arg.to_str());
    // Global flags, then the subcommand.
    loop {
        let word = words.next()??;
        if !count_verbose(word, &mut verbose)? {
            if word != "token" && word != "generate-db-auth-token" {
                return None;
            }
            break;
        }
    }
    let mut hostname = None;
    let mut port = None;
    let mut username = None;
    let mut region = None;
    let mut profile = None;
    let mut signing_time = None;
    // clap keeps the subcommand's count of a global flag over the top level's, so a
    // count on both sides is left to it.
    let verbose_before = verbose;
    while let Some(word) = words.next() {
        let word = word?;
        if count_verbose(word, &mut verbose)? {
            if verbose_before > 0 {
                return None;
            }
            continue;
        }
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (word, None),
        };
        let slot = match flag {
            "--hostname" => &mut hostname,
            "--port" => &mut port,
            "--username" => &mut username,
            "--region" => &mut region,
            "--profile" => &mut profile,
            "--signing-time" => &mut signing_time,
            _ => return None,
        };
        let value = match inline {
            Some(value) => value,
            None => words.next()??,
        };
        if slot.is_some() || value.is_empty() || value.starts_with('-') {
            return None;
        }
        *slot = Some(value);
    }
    Some(Args {
        command: Command::Token(TokenArgs {
            hostname: hostname?.to_owned(),
            port: parse_port(port?)?,
            username: username?.to_owned(),
            aws: AwsOpts {
                region: region.map(str::to_owned),
                profile: profile.map(str::to_owned),
            },
            signing_time: match signing_time {
                Some(text) => Some(crate::time::parse_rfc3339(text).ok()?),
                None => None,
            },
        }),
        verbose,
    })
}

/// Adds `-v`, `-vv`, ... or `--verbose` to `verbose` and says whether `word` was one;
/// `None` when the count would pass clap's limit.
fn count_verbose(word: &str, verbose: &mut u8) -> Option<bool> {
    let count = if word == "--verbose" {
        1
    } else if let Some(vs) = word.strip_prefix('-')
        && !vs.is_empty()
        && vs.bytes().all(|b| b == b'v')
    {
        u8::try_from(vs.len()).ok()?
    } else {
        return Some(false);
    };
    *verbose = verbose.checked_add(count)?;
    Some(true)
}

/// A port of ASCII digits, 1 to 65535 (clap accepts more spellings, such as `+5432`).
fn parse_port(text: &str) -> Option<u16> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&port| port != 0)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// `rds-iam` and the words of `line`, split at spaces; `''` is an empty word.
    fn words(line: &str) -> Vec<OsString> {
        std::iter::once("rds-iam")
            .chain(line.split_whitespace())
            .map(|word| OsString::from(if word == "''" { "" } else { word }))
            .collect()
    }

    /// Whenever the fast parser answers, clap gives the same `Args`.
    fn assert_agrees(line: &[OsString]) -> bool {
        let Some(fast) = parse(line) else {
            return false;
        };
        let clap = Args::try_parse_from(line)
            .unwrap_or_else(|err| panic!("clap refuses {line:?}, the fast parser took it: {err}"));
        assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "for {line:?}");
        true
    }

    #[test]
    fn the_common_command_lines_take_the_fast_path() {
        for line in [
            "token --hostname db.abc.us-east-1.rds.amazonaws.com --port 5432 --username app",
            "generate-db-auth-token --hostname h --port 3306 --username u --region us-west-2",
            "-v token --hostname=h --port=5432 --username=u --profile prod",
            "token --hostname=h -v --port=5432 --username=u -vv",
            "token --username u --port 1 --hostname h --signing-time 2024-08-26T22:00:00Z",
            "--verbose token --hostname h --port 065535 --username a=b",
        ] {
            let line = words(line);
            assert!(assert_agrees(&line), "{line:?} should take the fast path");
        }
    }

    #[test]
    fn anything_unusual_is_left_to_clap() {
        for line in [
            "",
            "--help",
            "token --help",
            "token --hostname h --port 5432",
            "token --hostname h --hostname h --port 5432 --username u",
            "token --hostname '' --port 5432 --username u",
            "token --hostname= --port 5432 --username u",
            "token --hostname -h --port 5432 --username u",
            "token --hostname h --port 0 --username u",
            "token --hostname h --port 65536 --username u",
            "token --hostname h --port +5432 --username u",
            "token --hostname h --port 5432 --username u --",
            "token --hostname h --port 5432 --username u extra",
            "token --hostname h --port 5432 --username u --signing-time yesterday",
            "token --host h --port 5432 --username u",
            "dsql-token --hostname h",
            "token -x --hostname h --port 5432 --username u",
            "-v token --hostname h --port 5432 --username u -v",
        ] {
            assert!(
                parse(&words(line)).is_none(),
                "{line:?} should be left to clap"
            );
        }
    }

    /// The edge cases a reviewer tries: inline values with `=` in them, leading zeros,
    /// counts at clap's `u8` limit (clap saturates at 255, this parser gives up), help,
    /// version and `--verbose=N`, flags after `--`, and values that are subcommand names.
    #[test]
    fn edge_cases_agree_or_are_left_to_clap() {
        let many_v = format!("-{}", "v".repeat(255));
        let too_many_v = format!("-{}", "v".repeat(256));
        let at_the_limit = format!("{many_v} token --hostname h --port 5432 --username u");
        for line in [
            "token --hostname=a=b --port=0005432 --username==u",
            "token --hostname help --port 5432 --username token",
            "token --hostname h --port 5432 --username u --region dsql-token",
            at_the_limit.as_str(),
            "-v -v --verbose token --hostname h --port 5432 --username u",
            "token --hostname h --port 5432 --username u -v --verbose -vv",
        ] {
            let line = words(line);
            assert!(assert_agrees(&line), "{line:?} should take the fast path");
        }
        for line in [
            "token --hostname h --port 00000 --username u",
            "token --hostname h --port=-5432 --username u",
            "token --hostname h --port 5432 --username u --verbose=2",
            "token --hostname h --port 5432 --username u -vV",
            "-V",
            "-h token --hostname h --port 5432 --username u",
            "token -h",
            "help token",
            "token --hostname h --port 5432 -- --username u",
            "token --hostname=-h --port 5432 --username u",
            "token --hostname h --port 5432 --username u --region=",
            "token --hostname h --port 5432 --username u --signing-time=2024-08-26T22:00:00",
            "-v token --hostname h --port 5432 --username u --verbose",
        ] {
            assert!(
                parse(&words(line)).is_none(),
                "{line:?} should be left to clap"
            );
        }
        let line = words(&format!(
            "{many_v} token --hostname h --port 5432 --username u -v"
        ));
        assert!(parse(&line).is_none());
        let line = words(&format!(
            "token --hostname h --port 5432 --username u {many_v} -v"
        ));
        assert!(parse(&line).is_none(), "256 counts are left to clap");
        let line = words(&format!(
            "{too_many_v} token --hostname h --port 5432 --username u"
        ));
        assert!(parse(&line).is_none());
    }

    #[test]
    fn not_utf8_is_left_to_clap() {
        use std::os::unix::ffi::OsStringExt as _;
        let mut line = words("token --hostname h --port 5432 --username");
        line.push(OsString::from_vec(vec![0xff, b'u']));
        assert!(parse(&line).is_none());
    }

    /// Thousands of command lines made of the pieces users type, well and badly formed:
    /// the fast parser agrees with clap on every one it answers, and answers often.
    #[test]
    fn agrees_with_clap_on_generated_command_lines() {
        const PIECES: &[&str] = &[
            "token",
            "generate-db-auth-token",
            "dsql-token",
            "-v",
            "-vv",
            "--verbose",
            "-x",
            "--hostname",
            "--hostname=h.example",
            "h",
            "db.abc.us-east-1.rds.amazonaws.com",
            "--port",
            "--port=3306",
            "5432",
            "0",
            "65536",
            "+5",
            "007",
            "--username",
            "app",
            "--username=",
            "--region",
            "us-east-1",
            "--profile",
            "p",
            "--signing-time",
            "2024-08-26T22:00:00Z",
            "2024-02-30T00:00:00Z",
            "--",
            "",
            "--help",
            "-",
        ];
        // xorshift64: the same sequence on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).unwrap()
        };
        let mut answered = 0;
        for _ in 0..20_000 {
            let mut line = vec!["rds-iam"];
            if next(4) != 0 {
                // Usually the right shape, with pieces swapped in at random.
                line.extend([
                    "token",
                    "--hostname",
                    "h",
                    "--port",
                    "5432",
                    "--username",
                    "u",
                ]);
                for _ in 0..next(4) {
                    let at = 1 + next(line.len() - 1);
                    line[at] = PIECES[next(PIECES.len())];
                }
                for _ in 0..next(3) {
                    line.push(PIECES[next(PIECES.len())]);
                }
            } else {
                for _ in 0..next(10) {
                    line.push(PIECES[next(PIECES.len())]);
                }
            }
            let line: Vec<OsString> = line.into_iter().map(OsString::from).collect();
            if assert_agrees(&line) {
                answered += 1;
            }
        }
        assert!(
            answered > 1_000,
            "the fast path answered only {answered} times"
        );
    }
}
