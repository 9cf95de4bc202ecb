//! Keys the loopback credential sources hand out, made known to the token verifier.
//!
//! The verifier reads `keys.json` plus every `*.json` in the test bed's `keys.d` on every
//! login. Each test writes its own file there (named after the test and this process),
//! adds each key as it is issued, with the expiry it was issued with, and removes the
//! file when it ends: the verifier then knows exactly the keys "IAM" has issued.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use integration_tests::{AwsKey, Testbed, iso8601_utc};

/// A per-test key file in the verifier's `keys.d`; removed on drop.
#[derive(Debug)]
pub(crate) struct KeyTable {
    path: PathBuf,
    entries: Mutex<Vec<serde_json::Value>>,
}

impl KeyTable {
    /// An empty key file for test `name`.
    pub(crate) fn new(bed: &Testbed, name: &str) -> KeyTable {
        let path = bed.keys_dir.join(format!(
            "credential-sources-{name}-{}.json",
            std::process::id()
        ));
        let table = KeyTable {
            path,
            entries: Mutex::new(Vec::new()),
        };
        table.write(&[]);
        table
    }

    /// Makes `key` valid for the verifier until `expires_at`.
    pub(crate) fn register(&self, key: &AwsKey, expires_at: Option<SystemTime>) {
        let mut entry = serde_json::json!({
            "label": "credential_sources test",
            "access_key_id": key.access_key_id,
            "secret_access_key": key.secret_access_key,
        });
        if let Some(token) = &key.session_token {
            entry["session_token"] = token.clone().into();
        }
        if let Some(expires_at) = expires_at {
            entry["expires_at"] = iso8601_utc(expires_at).into();
        }
        let mut entries = self.entries.lock().unwrap();
        entries.push(entry);
        self.write(&entries);
    }

    /// Replaces the file in one rename, so the verifier never reads half of it.
    fn write(&self, entries: &[serde_json::Value]) {
        let text = serde_json::json!({ "keys": entries }).to_string();
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        let name = self.path.file_name().unwrap().to_string_lossy();
        // Not `*.json`: the verifier must not read it while it is being written.
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, text).unwrap_or_else(|e| {
            panic!(
                "cannot write {} (the tests add keys to the verifier's key table and need \
                 to run as root): {e}",
                tmp.display()
            )
        });
        fs::rename(&tmp, &self.path).expect("rename key file into place");
    }
}

impl Drop for KeyTable {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// New temporary credentials (`ASIA...`, secret, session token) no other test or run uses.
pub(crate) fn fresh_temporary_key() -> AwsKey {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut rng = XorShift(
        u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or(1)
            ^ (u64::from(std::process::id()) << 32)
            ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            | 1,
    );
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    AwsKey {
        access_key_id: format!("ASIA{}", rng.string(UPPER, 16)),
        secret_access_key: rng.string(B64, 40),
        session_token: Some(format!("IQoJb3JpZ2luX2Vj{}", rng.string(B64, 600))),
    }
}

/// Test-only randomness: unique strings, nothing secret.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        let modulus = u64::try_from(alphabet.len()).expect("small alphabet");
        (0..len)
            .map(|_| {
                let i = usize::try_from(self.next() % modulus).expect("small index");
                char::from(alphabet[i])
            })
            .collect()
    }
}
