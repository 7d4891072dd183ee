//! `--data-dir`, `--key` and `--ephemeral`: where a node keeps its identity, history and known peers (chat: a per-id directory by default; run: nothing unless told).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use peerchat::NodeBuilder;

/// The file in a data directory holding the id generated for a node
/// started without `--id` (so the next start is the same node).
const ID_FILE: &str = "id";

/// Where the node keeps what outlives it.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Keep the node's key (DIR/identity.key), history and known peers
    /// (DIR/peerchat.db) in DIR, locked while the node runs. `chat` uses
    /// $XDG_DATA_HOME/peerchat/ID by default; `run` keeps nothing unless given one.
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    pub data_dir: Option<PathBuf>,
    /// The node's key file (made with mode 0600 if it does not exist),
    /// instead of the data directory's identity.key.
    #[arg(long, value_name = "PATH", conflicts_with = "ephemeral")]
    pub key: Option<PathBuf>,
    /// Nothing on disk: a new key each start, no history, no data directory.
    #[arg(long)]
    pub ephemeral: bool,
}

/// What the node will use, once defaults are applied.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The data directory, if any.
    pub dir: Option<PathBuf>,
    /// A key file, if any.
    pub key: Option<PathBuf>,
}

impl StorageArgs {
    /// `run`'s choice: only what was asked for.
    pub fn explicit(&self) -> Storage {
        Storage {
            dir: self.data_dir.clone(),
            key: self.key.clone(),
        }
    }

    /// `chat`'s choice: `--data-dir`, else (unless `--ephemeral`) the
    /// per-id directory under `$XDG_DATA_HOME/peerchat` (`default` without `--id`).
    pub fn or_default(&self, id: Option<&str>) -> Result<Storage> {
        let dir = match (&self.data_dir, self.ephemeral) {
            (Some(dir), _) => Some(dir.clone()),
            (None, true) => None,
            (None, false) => Some(default_dir(id)?),
        };
        Ok(Storage {
            dir,
            key: self.key.clone(),
        })
    }
}

impl Storage {
    /// The node's id: `--id`, else the one stored in the data directory,
    /// else a new `prefix-xxxxxx`. The second value says whether the id is
    /// new and must be stored once the node holds the directory ([`Storage::keep_id`]).
    pub fn id(&self, given: Option<&str>, generated: impl FnOnce() -> String) -> (String, bool) {
        if let Some(id) = given {
            return (id.to_string(), false);
        }
        let stored = self
            .dir
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.join(ID_FILE)).ok())
            .map(|text| text.trim().to_string())
            .filter(|id| !id.is_empty());
        match stored {
            Some(id) => (id, false),
            None => (generated(), self.dir.is_some()),
        }
    }

    /// Stores a generated `id` in the data directory (called once the node
    /// runs, so the directory is locked by this process).
    pub fn keep_id(&self, id: &str) -> Result<()> {
        if let Some(dir) = &self.dir {
            let path = dir.join(ID_FILE);
            std::fs::write(&path, format!("{id}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// The builder with this storage: the data directory, and the key file's identity.
    pub fn apply(&self, mut builder: NodeBuilder) -> Result<NodeBuilder> {
        if let Some(dir) = &self.dir {
            builder = builder.data_dir(dir);
        }
        if let Some(key) = &self.key {
            builder = builder.identity(peerchat::data_dir::load_or_create_key(key)?);
        }
        Ok(builder)
    }

    /// One line for people: where things are kept.
    pub fn describe(&self) -> String {
        match (&self.dir, &self.key) {
            (Some(dir), Some(key)) => format!(
                "key from {}; history kept in {}",
                key.display(),
                dir.display()
            ),
            (Some(dir), None) => format!("identity and history kept in {}", dir.display()),
            (None, Some(key)) => format!("key from {}; no history kept", key.display()),
            (None, None) => "ephemeral: a new key, nothing kept on disk".to_string(),
        }
    }
}

/// `$XDG_DATA_HOME/peerchat/NAME`, else `$HOME/.local/share/peerchat/NAME`;
/// NAME is the id made safe as a file name, or `default`.
fn default_dir(id: Option<&str>) -> Result<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = match (non_empty("XDG_DATA_HOME"), non_empty("HOME")) {
        (Some(xdg), _) => PathBuf::from(xdg),
        (None, Some(home)) => Path::new(&home).join(".local").join("share"),
        (None, None) => {
            bail!("no place for the data directory: neither XDG_DATA_HOME nor HOME is set (use --data-dir DIR or --ephemeral)")
        }
    };
    Ok(base
        .join("peerchat")
        .join(id.map_or_else(|| "default".to_string(), file_name)))
}

/// An id as one safe path component: letters, digits, `-` and `_` as they
/// are, anything else (`/`, `.`, spaces, non-ASCII) as `%XX` bytes.
fn file_name(id: &str) -> String {
    let mut name = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids become one path component each: nothing escapes the peerchat directory.
    #[test]
    fn ids_are_safe_file_names() {
        assert_eq!(file_name("alice"), "alice");
        assert_eq!(file_name("../x"), "%2E%2E%2Fx");
        assert_eq!(file_name("a b"), "a%20b");
        assert_eq!(file_name("é"), "%C3%A9");
    }
}
