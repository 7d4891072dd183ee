//! The pin table on disk: `DIR/pins`, read at start, written whole (atomically) when a pin changes.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::proto::Pins;

/// The file in a data directory that holds the pins.
pub const PINS_FILE: &str = "pins";

/// The pins in `path` (none if the file does not exist yet).
pub fn load(path: &Path) -> Result<Pins> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Pins::from_text(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pins::new()),
        Err(source) => Err(Error::DataDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `pins` to `path`: to a temporary file beside it first, then
/// renamed over it, so a crash leaves the old table or the new one, whole.
pub fn save(path: &Path, pins: &Pins) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(pins.to_text().as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Identity, PeerId};

    /// Saved pins load back; a missing file is an empty table; no temporary file is left.
    #[test]
    fn save_and_load() {
        let dir = std::env::temp_dir().join(format!("peerchat-pins-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(PINS_FILE);
        let _ = fs::remove_file(&path);
        assert!(load(&path).unwrap().is_empty());
        let mut pins = Pins::new();
        pins.set(PeerId::new("alice"), Identity::from_secret([1; 32]).key());
        save(&path, &pins).unwrap();
        assert_eq!(load(&path).unwrap(), pins);
        assert!(!path.with_extension("tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
