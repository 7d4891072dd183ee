//! A node's data directory: its key pair, and (with the `sqlite` feature) its database, held under an exclusive lock.
//!
//! `DIR/identity.key` holds the node's ed25519 secret as 64 hex characters
//! and a newline, created with mode 0600 and loaded on every later start.
//! `DIR/lock` is locked exclusively for as long as the [`DataDir`] lives
//! (the node's lifetime), so a second process using the same directory gets
//! [`Error::DataDirLocked`] instead of two nodes sharing one identity and
//! database. Nothing here runs on a hot path: it is called once at start.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::proto::identity::hex_array;
use crate::proto::Identity;

/// The key file's name inside a data directory.
pub const IDENTITY_FILE: &str = "identity.key";
/// The lock file's name inside a data directory.
pub const LOCK_FILE: &str = "lock";

/// An open data directory, locked for this process until dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the exclusive lock (released when the file is closed).
    _lock: File,
}

impl DataDir {
    /// Opens (creating it, mode 0700, if needed) and locks `path`. Fails with
    /// [`Error::DataDirLocked`] when another process holds it.
    pub fn open(path: impl AsRef<Path>) -> Result<DataDir> {
        let path = path.as_ref().to_path_buf();
        let io_error = |source| Error::DataDir {
            path: path.clone(),
            source,
        };
        create_private_dir(&path).map_err(io_error)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(io_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::DataDirLocked { path }),
            Err(fs::TryLockError::Error(source)) => return Err(io_error(source)),
        }
        Ok(DataDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The node's key pair: loaded from `identity.key`, or made and stored
    /// there (mode 0600) on first use.
    pub fn identity(&self) -> Result<Identity> {
        load_or_create_key(&self.path.join(IDENTITY_FILE))
    }
}

/// A fresh key pair from the operating system's randomness (an ephemeral
/// identity, or a new one to store).
pub fn generate_identity() -> Identity {
    use rand::{rngs::OsRng, TryRngCore};
    let mut secret = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut secret)
        .expect("the operating system's random source failed");
    Identity::from_secret(secret)
}

/// Loads the key pair in `path` (`--key PATH`), or makes one and writes it
/// there with mode 0600 when the file does not exist.
pub fn load_or_create_key(path: &Path) -> Result<Identity> {
    let key_error = |reason: String| Error::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            let secret = hex_array::<32>(text.trim())
                .map_err(|e| key_error(format!("not a peerchat key file ({e})")))?;
            Ok(Identity::from_secret(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = generate_identity();
            write_private(path, &identity).map_err(|e| key_error(e.to_string()))?;
            info!(path = %path.display(), key = %identity.key().fingerprint(), "created a new identity");
            Ok(identity)
        }
        Err(e) => Err(key_error(e.to_string())),
    }
}

/// Writes the secret to a new file that only its owner can read.
fn write_private(path: &Path, identity: &Identity) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let hex = crate::proto::identity::to_hex(&identity.secret());
    file.write_all(format!("{hex}\n").as_bytes())?;
    file.sync_all()
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                warn!(path = %path.display(), "the key file can be read by other users (chmod 600 it)");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "peerchat-datadir-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        dir
    }

    /// The key is made once (mode 0600) and the same one is loaded after.
    #[test]
    fn identity_persists() {
        let dir = temp_dir("persist");
        let first = DataDir::open(&dir).unwrap().identity().unwrap();
        let again = DataDir::open(&dir).unwrap().identity().unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(IDENTITY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(dir).unwrap();
    }

    /// A second open of a held directory fails with `DataDirLocked`; after
    /// the first is dropped it opens.
    #[test]
    fn lock_is_exclusive() {
        let dir = temp_dir("lock");
        let held = DataDir::open(&dir).unwrap();
        let err = DataDir::open(&dir).unwrap_err();
        assert!(matches!(err, Error::DataDirLocked { .. }), "{err}");
        assert!(err.to_string().contains("in use"), "{err}");
        drop(held);
        DataDir::open(&dir).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }

    /// A key file that is not 64 hex characters is refused with its path.
    #[test]
    fn bad_key_file_is_refused() {
        let dir = temp_dir("badkey");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        fs::write(&path, "not a key\n").unwrap();
        let err = load_or_create_key(&path).unwrap_err();
        assert!(matches!(err, Error::KeyFile { .. }), "{err}");
        assert!(err.to_string().contains("not a peerchat key file"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
