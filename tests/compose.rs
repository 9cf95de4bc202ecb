//! Static checks of `docker-compose.yml` (Docker cannot run here): it parses, every
//! file it mounts exists, and its test bed runs the same `tests/rds-emulator/setup`.
//!
//! The file is parsed by a small, strict parser for the block-YAML subset it uses
//! (mappings, sequences, plain/quoted scalars, one-line flow sequences); anything
//! else (anchors, tags, block scalars, flow mappings) is an error, so a change to
//! the file that this parser would misread fails loudly instead. When PyYAML is
//! around, the parse is also compared with PyYAML's.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn at(&self, path: &str) -> &Yaml {
        path.split('.').fold(self, |node, key| {
            node.get(key)
                .unwrap_or_else(|| panic!("docker-compose.yml: no `{path}` (at `{key}`)"))
        })
    }

    fn str(&self) -> &str {
        match self {
            Yaml::Str(s) => s,
            other => panic!("expected a scalar, got {other:?}"),
        }
    }

    fn seq(&self) -> &[Yaml] {
        match self {
            Yaml::Seq(items) => items,
            other => panic!("expected a sequence, got {other:?}"),
        }
    }

    /// `path=value` lines, the same shape as the PyYAML cross-check prints.
    fn flatten(&self, prefix: &str, out: &mut Vec<String>) {
        match self {
            Yaml::Str(s) => out.push(format!("{prefix}={s}")),
            Yaml::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.flatten(&format!("{prefix}[{i}]"), out);
                }
            }
            Yaml::Map(entries) => {
                for (k, v) in entries {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    v.flatten(&p, out);
                }
            }
        }
    }
}

struct Line {
    number: usize,
    indent: usize,
    text: String,
}

fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        assert!(!raw.contains('\t'), "line {}: tab in YAML", i + 1);
        let body = strip_comment(raw).trim_end();
        if body.trim().is_empty() {
            continue;
        }
        let indent = body.len() - body.trim_start().len();
        out.push(Line {
            number: i + 1,
            indent,
            text: body.trim_start().to_owned(),
        });
    }
    out
}

fn scalar(text: &str, line: usize) -> Yaml {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .unwrap_or_else(|| panic!("line {line}: unterminated flow sequence"));
        return Yaml::Seq(
            split_flow(inner, line)
                .iter()
                .map(|s| scalar(s, line))
                .collect(),
        );
    }
    if let Some(inner) = t.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .unwrap_or_else(|| panic!("line {line}: unterminated double-quoted string"));
        let mut s = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    other => panic!("line {line}: unsupported escape \\{other:?}"),
                }
            } else {
                s.push(c);
            }
        }
        return Yaml::Str(s);
    }
    if let Some(inner) = t.strip_prefix('\'') {
        let inner = inner
            .strip_suffix('\'')
            .unwrap_or_else(|| panic!("line {line}: unterminated single-quoted string"));
        return Yaml::Str(inner.replace("''", "'"));
    }
    let first = t.chars().next().unwrap_or(' ');
    assert!(
        !matches!(
            first,
            '|' | '>' | '&' | '*' | '!' | '{' | '%' | '@' | '`' | '?'
        ),
        "line {line}: YAML feature outside the supported subset: {t}"
    );
    Yaml::Str(t.to_owned())
}

fn split_flow(inner: &str, line: usize) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let (mut single, mut double) = (false, false);
    for c in inner.chars() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '[' | ']' | '{' | '}' if !single && !double => {
                panic!("line {line}: nested flow collections are not supported")
            }
            ',' if !single && !double => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        items.push(cur);
    }
    items.into_iter().map(|s| s.trim().to_owned()).collect()
}

/// Splits `key: value` (key possibly quoted); `None` if the line is not a mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else {
        let end = text
            .find(": ")
            .or_else(|| text.strip_suffix(':').map(|k| k.len()))?;
        (text[..end].to_owned(), &text[end..])
    };
    let rest = rest.strip_prefix(':')?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest.trim()))
}

/// Parses the block at `lines[*pos]`, whose lines have exactly `indent` spaces.
fn block(lines: &mut Vec<Line>, pos: &mut usize, indent: usize) -> Yaml {
    let is_seq = lines[*pos].text == "-" || lines[*pos].text.starts_with("- ");
    if is_seq {
        let mut items = Vec::new();
        while *pos < lines.len() && lines[*pos].indent == indent {
            let line = &lines[*pos];
            assert!(
                line.text == "-" || line.text.starts_with("- "),
                "line {}: expected a sequence item",
                line.number
            );
            let rest = line.text[1..].trim_start().to_owned();
            if rest.is_empty() {
                *pos += 1;
                let child = lines[*pos].indent;
                assert!(child > indent, "line {}: empty item", lines[*pos].number);
                items.push(block(lines, pos, child));
            } else if split_key(&rest).is_some() && !rest.starts_with('"') && !rest.starts_with('[')
            {
                // `- key: value` starts a mapping whose keys sit at indent + 2.
                let child = indent + 2;
                lines[*pos] = Line {
                    number: lines[*pos].number,
                    indent: child,
                    text: rest,
                };
                items.push(block(lines, pos, child));
            } else {
                items.push(scalar(&rest, line.number));
                *pos += 1;
            }
        }
        Yaml::Seq(items)
    } else {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        while *pos < lines.len() && lines[*pos].indent == indent {
            let number = lines[*pos].number;
            let (key, rest) = split_key(&lines[*pos].text)
                .unwrap_or_else(|| panic!("line {number}: expected `key: value`"));
            assert!(
                entries.iter().all(|(k, _)| *k != key),
                "line {number}: duplicate key {key}"
            );
            let rest = rest.to_owned();
            *pos += 1;
            let value = if !rest.is_empty() {
                scalar(&rest, number)
            } else if *pos < lines.len() && lines[*pos].indent > indent {
                let child = lines[*pos].indent;
                block(lines, pos, child)
            } else if *pos < lines.len()
                && lines[*pos].indent == indent
                && lines[*pos].text.starts_with("- ")
            {
                // A sequence may sit at the same indentation as its key.
                block(lines, pos, indent)
            } else {
                Yaml::Str(String::new())
            };
            entries.push((key, value));
        }
        Yaml::Map(entries)
    }
}

fn parse(text: &str) -> Yaml {
    let mut ls = lines(text);
    assert!(!ls.is_empty(), "empty YAML");
    assert_eq!(
        ls[0].indent, 0,
        "line {}: top level must not be indented",
        ls[0].number
    );
    let mut pos = 0;
    let doc = block(&mut ls, &mut pos, 0);
    assert_eq!(
        pos,
        ls.len(),
        "line {}: bad indentation",
        ls.get(pos).map_or(0, |l| l.number)
    );
    doc
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn compose() -> Yaml {
    let path = repo_root().join("docker-compose.yml");
    let text = fs::read_to_string(&path).expect("read docker-compose.yml");
    parse(&text)
}

/// Where generated files go; gitignored, created by the container at run time.
const GENERATED: &str = "tests/rds-emulator/generated";

/// (host source relative to the repo, container target, create_host_path)
fn bind_mounts(service: &Yaml) -> Vec<(String, String, bool)> {
    let Some(volumes) = service.get("volumes") else {
        return Vec::new();
    };
    volumes
        .seq()
        .iter()
        .map(|v| match v {
            Yaml::Str(short) => {
                let parts: Vec<&str> = short.split(':').collect();
                assert!(parts.len() >= 2, "volume `{short}` is not a bind mount");
                assert!(
                    parts[0].starts_with("./") || parts[0].starts_with("../"),
                    "volume `{short}`: only relative bind mounts are used here"
                );
                (parts[0].to_owned(), parts[1].to_owned(), true)
            }
            long => {
                assert_eq!(long.at("type").str(), "bind", "only bind mounts: {long:?}");
                let create = long
                    .get("bind")
                    .and_then(|b| b.get("create_host_path"))
                    .is_some_and(|c| c.str() == "true");
                (
                    long.at("source").str().to_owned(),
                    long.at("target").str().to_owned(),
                    create,
                )
            }
        })
        .map(|(s, t, c)| (s.trim_start_matches("./").to_owned(), t, c))
        .collect()
}

#[test]
fn parser_handles_the_subset() {
    let doc = parse(
        "a: 1 # comment\nb:\n  - x\n  - \"y # not a comment\"\n  - k: v\n    l: 'w''s'\nc: [\"p\", q]\nd:\n- z\n",
    );
    let mut flat = Vec::new();
    doc.flatten("", &mut flat);
    assert_eq!(
        flat,
        [
            "a=1",
            "b[0]=x",
            "b[1]=y # not a comment",
            "b[2].k=v",
            "b[2].l=w's",
            "c[0]=p",
            "c[1]=q",
            "d[0]=z"
        ]
    );
    for bad in [
        "a: |\n  text\n",
        "a: &anchor x\n",
        "a: {b: c}\n",
        "a: b\n  c: d\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse(bad)).is_err(),
            "accepted: {bad:?}"
        );
    }
}

#[test]
fn compose_file_parses_and_has_the_services() {
    let doc = compose();
    let services = doc.at("services");
    assert!(
        services
            .at("testbed")
            .at("image")
            .str()
            .starts_with("debian:bookworm"),
        "testbed must be Debian 12, like the machines the setup targets"
    );
    assert!(
        services
            .at("localstack")
            .at("image")
            .str()
            .starts_with("localstack/localstack"),
    );
    assert!(services.at("testbed").get("healthcheck").is_some());
}

#[test]
fn every_mounted_file_exists() {
    let root = repo_root();
    let gitignore = fs::read_to_string(root.join(".gitignore")).expect(".gitignore");
    let doc = compose();
    let Yaml::Map(services) = doc.at("services") else {
        panic!("services is not a mapping")
    };
    let mut count = 0;
    for (name, service) in services {
        for (source, target, create) in bind_mounts(service) {
            count += 1;
            let path = root.join(&source);
            if source == GENERATED || source.starts_with(&format!("{GENERATED}/")) {
                // Output of the container: must be created on demand and not committed.
                assert!(
                    create,
                    "{name}: {source} -> {target} needs create_host_path: true"
                );
                assert!(
                    gitignore
                        .lines()
                        .any(|l| l.trim() == format!("/{GENERATED}/")),
                    "{GENERATED}/ must be gitignored"
                );
            } else {
                assert!(path.exists(), "{name}: mounted {source} does not exist");
            }
        }
    }
    assert!(count >= 2, "expected the bed's bind mounts");
}

#[test]
fn testbed_runs_the_same_setup_script() {
    let root = repo_root();
    let doc = compose();
    let testbed = doc.at("services.testbed");
    let command: Vec<&str> = testbed.at("command").seq().iter().map(Yaml::str).collect();
    let script = command.join(" ");
    let mounts = bind_mounts(testbed);

    // The container path of setup, mapped back through the bind mounts to the repo.
    let setup_in_container = script
        .split_whitespace()
        .find(|w| w.ends_with("/setup"))
        .expect("the command runs a setup script");
    let (host_path, read_only_source) = mounts
        .iter()
        .find_map(|(source, target, _)| {
            setup_in_container
                .strip_prefix(&format!("{target}/"))
                .map(|rest| (root.join(source).join(rest), source.clone()))
        })
        .expect("setup comes from a bind mount of the repository");
    assert_eq!(
        host_path.canonicalize().expect("setup exists"),
        root.join("tests/rds-emulator/setup")
            .canonicalize()
            .expect("setup"),
        "the container must run tests/rds-emulator/setup"
    );
    assert_eq!(read_only_source, "tests/rds-emulator");
    let setup_mount = testbed
        .at("volumes")
        .seq()
        .iter()
        .find(|v| v.get("source").map(Yaml::str) == Some("./tests/rds-emulator"))
        .expect("long-syntax mount of tests/rds-emulator");
    assert_eq!(setup_mount.at("read_only").str(), "true");

    // It exports the env file into a mounted, gitignored directory, listening publicly.
    assert!(script.contains("--public"), "{script}");
    let export = script
        .split_whitespace()
        .skip_while(|w| *w != "--export")
        .nth(1)
        .expect("--export DIR");
    assert!(
        mounts
            .iter()
            .any(|(s, t, _)| t == export && s.as_str() == GENERATED),
        "--export {export} must be the mounted {GENERATED}"
    );
    // The verifier log and keys.d are where tests/src/lib.rs expects them relative
    // to the exported env file (log/verifier.log, keys.d).
    for (target, source) in [
        ("/var/log/rds-emulator", format!("{GENERATED}/log")),
        (
            "/var/lib/rds-emulator/keys.d",
            format!("{GENERATED}/keys.d"),
        ),
    ] {
        assert!(
            mounts.iter().any(|(s, t, _)| t == target && *s == source),
            "{target} must be mounted from {source}"
        );
    }
    let setup_text = fs::read_to_string(root.join("tests/rds-emulator/setup")).expect("setup");
    assert!(setup_text.contains("env_file ca.pem log/verifier.log keys.d"));
}

#[test]
fn published_ports_match_the_ports_tokens_are_signed_for() {
    let doc = compose();
    let testbed = doc.at("services.testbed");
    let ports: Vec<&str> = testbed.at("ports").seq().iter().map(Yaml::str).collect();
    let env = testbed.at("environment");
    for (container_port, var, setup_var, default) in [
        (
            "5432",
            "RDS_TESTBED_PG_PORT",
            "RDS_EMULATOR_PG_PORT",
            "5432",
        ),
        (
            "3306",
            "RDS_TESTBED_MYSQL_PORT",
            "RDS_EMULATOR_MYSQL_PORT",
            "3306",
        ),
        (
            "5433",
            "RDS_TESTBED_DSQL_PORT",
            "RDS_EMULATOR_DSQL_PORT",
            "5433",
        ),
    ] {
        let host_port = format!("${{{var}:-{default}}}");
        assert!(
            ports.contains(&format!("127.0.0.1:{host_port}:{container_port}").as_str()),
            "{container_port} must be published on 127.0.0.1:{host_port}: {ports:?}"
        );
        assert_eq!(env.at(setup_var).str(), host_port, "{setup_var}");
    }
}

#[test]
fn agrees_with_pyyaml_when_available() {
    let path = repo_root().join("docker-compose.yml");
    let program = r#"
import sys
try:
    import yaml
except ImportError:
    print("NO-PYYAML"); sys.exit(0)
def flat(node, prefix):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from flat(v, k if not prefix else prefix + "." + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from flat(v, "%s[%d]" % (prefix, i))
    elif isinstance(node, bool):
        yield "%s=%s" % (prefix, "true" if node else "false")
    elif node is None:
        yield prefix + "="
    else:
        yield "%s=%s" % (prefix, node)
print("\n".join(flat(yaml.safe_load(open(sys.argv[1])), "")))
"#;
    let out = match Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(&path)
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        _ => {
            eprintln!("python3 not available: skipping the PyYAML cross-check");
            return;
        }
    };
    if out.trim() == "NO-PYYAML" {
        eprintln!("PyYAML not available: skipping the cross-check");
        return;
    }
    let mut ours = Vec::new();
    compose().flatten("", &mut ours);
    let theirs: Vec<String> = out.lines().map(str::to_owned).collect();
    let as_map = |v: &[String]| -> BTreeMap<String, String> {
        v.iter()
            .map(|l| {
                let (k, v) = l.split_once('=').expect("k=v");
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    assert_eq!(as_map(&ours), as_map(&theirs));
}
