//! The embedded RDS CA bundle: `rds-iam ca-bundle`, and the private temp file the
//! database clients read it from.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rds_iam_certs::RDS_CA_BUNDLE_PEM;

use crate::args::CaBundleArgs;

/// `rds-iam ca-bundle`: the bundle to stdout, or to `--output` (replaced whole).
pub(crate) fn write_bundle(args: &CaBundleArgs) -> anyhow::Result<()> {
    match &args.output {
        None => {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(RDS_CA_BUNDLE_PEM.as_bytes())
                .and_then(|()| stdout.flush())
                .context("could not write the CA bundle to stdout")
        }
        Some(path) => fs::write(path, RDS_CA_BUNDLE_PEM).with_context(|| {
            format!(
                "could not write the CA bundle to {}: check the directory exists and is writable",
                path.display()
            )
        }),
    }
}

/// A file holding the embedded bundle, readable only by the user, deleted on drop.
#[derive(Debug)]
pub(crate) struct TempBundle {
    path: PathBuf,
}

impl TempBundle {
    /// Writes the embedded bundle to a new file (mode 0600, created exclusively) in the
    /// temp directory (`TMPDIR`, else `/tmp`).
    pub(crate) fn create() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let mut last_error = None;
        for attempt in 0..16u32 {
            let path = dir.join(format!(
                "rds-iam-ca-{}-{:08x}.pem",
                std::process::id(),
                seed.wrapping_add(attempt.wrapping_mul(0x9e37_79b9))
            ));
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match opened {
                Ok(mut file) => {
                    // From here on, drop removes the file even if the write fails.
                    let bundle = Self { path };
                    file.write_all(RDS_CA_BUNDLE_PEM.as_bytes())
                        .and_then(|()| file.sync_all())
                        .with_context(|| {
                            format!("could not write the CA bundle to {}", bundle.path.display())
                        })?;
                    return Ok(bundle);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_error = Some(err),
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!(
                            "could not create a temp file for the CA bundle in {}: set TMPDIR \
                             to a writable directory, or give --ca-file",
                            dir.display()
                        )
                    });
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("name collisions"))).with_context(|| {
            format!(
                "could not create a temp file for the CA bundle in {}",
                dir.display()
            )
        })
    }

    /// Where the bundle is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempBundle {
    fn drop(&mut self) {
        if let Err(err) = fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), %err, "could not remove the temporary CA bundle");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn temp_bundle_is_private_and_removed() {
        let bundle = TempBundle::create().unwrap();
        let path = bundle.path().to_owned();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), RDS_CA_BUNDLE_PEM);
        let other = TempBundle::create().unwrap();
        assert_ne!(other.path(), path);
        drop(bundle);
        assert!(!path.exists());
    }
}
