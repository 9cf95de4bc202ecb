//! The embedded CA bundle (the RDS roots and Amazon Root CA 1-4): `rds-iam ca-bundle`,
//! and the private temp directory the database clients read it from.
//!
//! One bundle for every endpoint: RDS and Aurora certificates chain to the RDS roots,
//! Aurora DSQL and RDS Proxy ones to the Amazon roots, and psql 15 cannot use the
//! system store instead (`sslrootcert=system` came in 16).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rds_iam_certs::RDS_AND_AMAZON_CA_BUNDLE_PEM as CA_BUNDLE_PEM;

use crate::args::CaBundleArgs;

/// `rds-iam ca-bundle`: the bundle to stdout, or to `--output` (replaced whole).
pub(crate) fn write_bundle(args: &CaBundleArgs) -> anyhow::Result<()> {
    match &args.output {
        None => {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(CA_BUNDLE_PEM.as_bytes())
                .and_then(|()| stdout.flush())
                .context("could not write the CA bundle to stdout")
        }
        Some(path) => fs::write(path, CA_BUNDLE_PEM).with_context(|| {
            format!(
                "could not write the CA bundle to {}: check the directory exists and is writable",
                path.display()
            )
        }),
    }
}

/// Writes the embedded bundle to `path` for `rds-iam url`: whole or not at all (a temp
/// file next to it, renamed over it). `create_parent` makes the missing directories (mode
/// 0700), for the default place.
pub(crate) fn write_bundle_to(path: &Path, create_parent: bool) -> anyhow::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if create_parent {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&temp, CA_BUNDLE_PEM)
        .and_then(|()| fs::rename(&temp, path))
        .inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
        .with_context(|| {
            format!(
                "could not write the CA bundle to {}: check the directory exists and is writable, \
                 or give --ca-output FILE",
                path.display()
            )
        })
}

/// A private temporary directory (mode 0700, in `TMPDIR`, else `/tmp`) for what a client
/// reads during one run: the CA bundle, an empty CA directory. Removed, with everything in
/// it, on drop.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates a new directory, exclusively, readable only by the user.
    pub(crate) fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let mut last_error = None;
        for attempt in 0..16u32 {
            let path = dir.join(format!(
                "rds-iam-{}-{:08x}",
                std::process::id(),
                seed.wrapping_add(attempt.wrapping_mul(0x9e37_79b9))
            ));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_error = Some(err),
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!(
                            "could not create a private temp directory in {}: set TMPDIR \
                             to a writable directory",
                            dir.display()
                        )
                    });
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("name collisions"))).with_context(|| {
            format!(
                "could not create a private temp directory in {}",
                dir.display()
            )
        })
    }

    /// Writes the embedded bundle to `ca.pem` in the directory (mode 0600, created
    /// exclusively) and returns its path.
    pub(crate) fn write_bundle(&self) -> anyhow::Result<PathBuf> {
        let path = self.path.join("ca.pem");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| {
                file.write_all(CA_BUNDLE_PEM.as_bytes())?;
                file.sync_all()
            })
            .with_context(|| format!("could not write the CA bundle to {}", path.display()))?;
        Ok(path)
    }

    /// Writes `text` to `name` in the directory (mode 0600, created exclusively) and
    /// returns its path.
    pub(crate) fn write_file(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.path.join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .with_context(|| format!("could not write {}", path.display()))?;
        Ok(path)
    }

    /// Where the directory is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates an empty directory `empty` in the directory and returns its path: a CA
    /// directory for the MySQL clients that adds no roots, in place of any `ssl-capath`
    /// an option file names.
    pub(crate) fn empty_dir(&self) -> anyhow::Result<PathBuf> {
        let path = self.path.join("empty");
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(err) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %err, "could not remove the private temp directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn private_dir_is_private_and_removed() {
        let dir = PrivateDir::create().unwrap();
        let path = dir.path.clone();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let bundle = dir.write_bundle().unwrap();
        assert_eq!(
            fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_to_string(&bundle).unwrap(), CA_BUNDLE_PEM);
        let empty = dir.empty_dir().unwrap();
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
        let other = PrivateDir::create().unwrap();
        assert_ne!(other.path, path);
        drop(dir);
        assert!(!path.exists());
    }
}
