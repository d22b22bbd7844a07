//! The on-disk key store: one JSON file per signing key, private to the operator.
//!
//! A key file (`<dir>/<name>.json`) holds the key name, its BIP-39 mnemonic, the HD path, the
//! account prefix and the derived address. Files are written atomically with mode 0600 inside a
//! 0700 directory, and a file that group or others can access is refused on load with a message
//! telling the operator to `chmod 600` it. Derivation and signing are `cosmos::AccountKey`'s
//! (BIP-39 → BIP-32 → secp256k1 → bech32, the same as other Cosmos wallets). Secrets live in
//! [`Mnemonic`], whose `Debug` is redacted and which is never formatted into logs or errors.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use cosmos::AccountKey;
use serde::{Deserialize, Serialize};

use crate::config::valid_key_name;

/// The Cosmos HD path, `m/44'/118'/0'/0/0`.
pub(crate) const DEFAULT_HD_PATH: &str = cosmos::COSMOS_HD_PATH;

/// Version of the key file format.
const FORMAT_VERSION: u32 = 1;

/// A BIP-39 mnemonic. `Debug` and `Display` never show it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Mnemonic(String);

impl Mnemonic {
    /// Wraps a phrase, normalising whitespace (the file may end with a newline, or wrap lines).
    pub(crate) fn new(phrase: &str) -> Self {
        Self(phrase.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// The phrase, for derivation only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Number of words.
    pub(crate) fn word_count(&self) -> usize {
        self.0.split(' ').filter(|w| !w.is_empty()).count()
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mnemonic(<redacted>)")
    }
}

/// What `keys list` shows: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyInfo {
    /// Key name.
    pub(crate) name: String,
    /// Bech32 address.
    pub(crate) address: String,
    /// HD derivation path.
    pub(crate) hd_path: String,
    /// Bech32 prefix of `address`.
    pub(crate) account_prefix: String,
}

/// A loaded signing key.
#[derive(Clone)]
pub(crate) struct SigningKey {
    /// Public part.
    pub(crate) info: KeyInfo,
    key: AccountKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("info", &self.info)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// The underlying account key.
    pub(crate) fn account_key(&self) -> &AccountKey {
        &self.key
    }
}

/// Key store errors. None of them carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Bad key name.
    #[error("invalid key name {0:?}: use 1-64 of letters, digits, '.', '_', '-' (not starting with '.')")]
    InvalidName(String),
    /// No such key.
    #[error("no key named {name:?} in key store {dir} (expected file {file})")]
    NotFound {
        /// Key name.
        name: String,
        /// Key store directory.
        dir: PathBuf,
        /// Expected file.
        file: PathBuf,
    },
    /// The key exists and `--overwrite` was not given.
    #[error("key {name:?} already exists at {file}; pass --overwrite to replace it")]
    Exists {
        /// Key name.
        name: String,
        /// Its file.
        file: PathBuf,
    },
    /// A file is accessible by group or others.
    #[error("key file {file} has mode {mode:04o} and is accessible by group or others; refusing to use it. Fix it with: chmod 600 {file}")]
    InsecurePermissions {
        /// The file.
        file: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// I/O failure on a file or directory.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read key file", …).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file that does not parse.
    #[error("key file {file} is malformed: {reason}")]
    Malformed {
        /// The file.
        file: PathBuf,
        /// What is wrong (never secret content).
        reason: String,
    },
    /// The mnemonic was refused by the derivation.
    #[error("cannot derive a key from the mnemonic{source_hint}: {reason}")]
    Derivation {
        /// ` in <file>` or empty.
        source_hint: String,
        /// Why (from the derivation, which never echoes the phrase).
        reason: String,
    },
    /// Bad account prefix.
    #[error("invalid account prefix {0:?}: use lower-case letters and digits, e.g. \"cosmos\"")]
    InvalidPrefix(String),
    /// Bad HD path.
    #[error("invalid HD path {0:?}: expected something like m/44'/118'/0'/0/0")]
    InvalidHdPath(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    name: String,
    mnemonic: Mnemonic,
    hd_path: String,
    account_prefix: String,
    address: String,
}

/// A directory of key files.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// A key store in `dir` (created on the first `add`).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of key `name`.
    pub(crate) fn file_of(&self, name: &str) -> Result<PathBuf, KeyError> {
        if !valid_key_name(name) {
            return Err(KeyError::InvalidName(name.to_string()));
        }
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Derives the key from `mnemonic` on `hd_path` and stores it as `name`.
    pub(crate) fn add(
        &self,
        name: &str,
        mnemonic: &Mnemonic,
        hd_path: &str,
        account_prefix: &str,
        overwrite: bool,
    ) -> Result<KeyInfo, KeyError> {
        let file = self.file_of(name)?;
        check_prefix(account_prefix)?;
        check_hd_path(hd_path)?;
        if !overwrite && file.exists() {
            return Err(KeyError::Exists {
                name: name.to_string(),
                file,
            });
        }
        let key = derive(mnemonic, hd_path, "")?;
        let info = KeyInfo {
            name: name.to_string(),
            address: key.address(account_prefix),
            hd_path: hd_path.to_string(),
            account_prefix: account_prefix.to_string(),
        };
        let contents = KeyFile {
            version: FORMAT_VERSION,
            name: info.name.clone(),
            mnemonic: mnemonic.clone(),
            hd_path: info.hd_path.clone(),
            account_prefix: info.account_prefix.clone(),
            address: info.address.clone(),
        };
        let json = serde_json::to_vec_pretty(&contents).map_err(|e| KeyError::Malformed {
            file: file.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
        self.ensure_dir()?;
        write_private(&file, &json)?;
        tracing::info!(key = name, address = %info.address, file = %file.display(), "stored key");
        Ok(info)
    }

    /// Loads key `name`, refusing files that group or others can access.
    pub(crate) fn load(&self, name: &str) -> Result<SigningKey, KeyError> {
        let file = self.file_of(name)?;
        let parsed = self.read(name, &file)?;
        let key = derive(
            &parsed.mnemonic,
            &parsed.hd_path,
            &format!(" in {}", file.display()),
        )?;
        let address = key.address(&parsed.account_prefix);
        if address != parsed.address {
            return Err(KeyError::Malformed {
                file,
                reason: format!(
                    "stored address {} does not match the address derived from its mnemonic ({address})",
                    parsed.address
                ),
            });
        }
        Ok(SigningKey {
            info: KeyInfo {
                name: parsed.name,
                address,
                hd_path: parsed.hd_path,
                account_prefix: parsed.account_prefix,
            },
            key,
        })
    }

    /// The public information of key `name` (permissions are checked, nothing is derived).
    pub(crate) fn info(&self, name: &str) -> Result<KeyInfo, KeyError> {
        let file = self.file_of(name)?;
        let parsed = self.read(name, &file)?;
        Ok(KeyInfo {
            name: parsed.name,
            address: parsed.address,
            hd_path: parsed.hd_path,
            account_prefix: parsed.account_prefix,
        })
    }

    /// Every key in the store, sorted by name; unreadable files are returned as errors.
    /// A missing directory is an empty store.
    pub(crate) fn list(&self) -> Result<Vec<Result<KeyInfo, KeyError>>, KeyError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(KeyError::Io {
                    action: "cannot read key store directory",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| KeyError::Io {
                action: "cannot read key store directory",
                path: self.dir.clone(),
                source,
            })?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if valid_key_name(name) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names.iter().map(|n| self.info(n)).collect())
    }

    /// Deletes key `name`.
    pub(crate) fn delete(&self, name: &str) -> Result<(), KeyError> {
        let file = self.file_of(name)?;
        match std::fs::remove_file(&file) {
            Ok(()) => {
                tracing::info!(key = name, file = %file.display(), "deleted key");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(KeyError::NotFound {
                name: name.to_string(),
                dir: self.dir.clone(),
                file,
            }),
            Err(source) => Err(KeyError::Io {
                action: "cannot delete key file",
                path: file,
                source,
            }),
        }
    }

    fn read(&self, name: &str, file: &Path) -> Result<KeyFile, KeyError> {
        let not_found = || KeyError::NotFound {
            name: name.to_string(),
            dir: self.dir.clone(),
            file: file.to_path_buf(),
        };
        // Check the permissions before reading the secret.
        match std::fs::metadata(file) {
            Ok(_) => check_private(file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(source) => {
                return Err(KeyError::Io {
                    action: "cannot access key file",
                    path: file.to_path_buf(),
                    source,
                })
            }
        }
        let bytes = std::fs::read(file).map_err(|source| KeyError::Io {
            action: "cannot read key file",
            path: file.to_path_buf(),
            source,
        })?;
        // serde_json errors name a line and column, never the content, so they are safe to show.
        let parsed: KeyFile = serde_json::from_slice(&bytes).map_err(|e| KeyError::Malformed {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        if parsed.version != FORMAT_VERSION {
            return Err(KeyError::Malformed {
                file: file.to_path_buf(),
                reason: format!("unsupported format version {}", parsed.version),
            });
        }
        if parsed.name != name {
            return Err(KeyError::Malformed {
                file: file.to_path_buf(),
                reason: format!("it holds key {:?}, not {name:?}", parsed.name),
            });
        }
        Ok(parsed)
    }

    fn ensure_dir(&self) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            action: "cannot create key store directory",
            path: self.dir.clone(),
            source,
        };
        if !self.dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(&self.dir).map_err(io)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.dir)
                .map_err(io)?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %self.dir.display(),
                    mode = format!("{:04o}", mode & 0o7777),
                    "key store directory is accessible by group or others; consider chmod 700"
                );
            }
        }
        Ok(())
    }
}

fn derive(mnemonic: &Mnemonic, hd_path: &str, source_hint: &str) -> Result<AccountKey, KeyError> {
    AccountKey::from_mnemonic(mnemonic.expose(), hd_path).map_err(|reason| KeyError::Derivation {
        source_hint: source_hint.to_string(),
        reason: redact(&reason.to_string(), mnemonic),
    })
}

/// Removes any mnemonic word sequence a derivation error might echo back.
fn redact(reason: &str, mnemonic: &Mnemonic) -> String {
    let phrase = mnemonic.expose();
    if !phrase.is_empty() && reason.contains(phrase) {
        reason.replace(phrase, "<redacted>")
    } else {
        reason.to_string()
    }
}

fn check_prefix(prefix: &str) -> Result<(), KeyError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidPrefix(prefix.to_string()))
    }
}

fn check_hd_path(path: &str) -> Result<(), KeyError> {
    let bad = || KeyError::InvalidHdPath(path.to_string());
    let rest = path.strip_prefix("m/").ok_or_else(bad)?;
    for part in rest.split('/') {
        let digits = part.strip_suffix('\'').unwrap_or(part);
        if digits.is_empty() || digits.parse::<u32>().map_or(true, |n| n >= 1 << 31) {
            return Err(bad());
        }
    }
    Ok(())
}

/// Refuses a file with any group/other permission bits.
fn check_private(file: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .map_err(|source| KeyError::Io {
                action: "cannot stat key file",
                path: file.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::InsecurePermissions {
                file: file.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Writes `bytes` to `file` atomically: a 0600 temp file in the same directory, fsync, rename.
fn write_private(file: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("key"),
        std::process::id()
    ));
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io {
            action,
            path,
            source,
        }
    };
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut f = options
            .open(&tmp)
            .map_err(io("cannot create key file", &tmp))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(io("cannot write key file", &tmp))?;
        std::fs::rename(&tmp, file).map_err(io("cannot write key file", file))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonic_is_redacted() {
        let m = Mnemonic::new("  abandon  abandon\nabout \n");
        assert_eq!(m.expose(), "abandon abandon about");
        assert_eq!(m.word_count(), 3);
        assert_eq!(format!("{m:?}"), "Mnemonic(<redacted>)");
        assert_eq!(
            redact("bad phrase abandon abandon about", &m),
            "bad phrase <redacted>"
        );
    }

    #[test]
    fn hd_paths() {
        assert!(check_hd_path("m/44'/118'/0'/0/0").is_ok());
        assert!(check_hd_path("m/44'/60'/0'/0/7").is_ok());
        for bad in ["", "m", "44'/118'", "m/44'/x/0", "m//0", "m/2147483648"] {
            assert!(check_hd_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("arke-keys-unit-{}", std::process::id()));
        let store = KeyStore::new(&dir);
        assert!(matches!(
            store.file_of("../x"),
            Err(KeyError::InvalidName(_))
        ));
        assert!(store.list().unwrap().is_empty());
        let err = store.load("nobody").unwrap_err();
        assert!(matches!(err, KeyError::NotFound { .. }));
        assert!(err.to_string().contains("nobody.json"), "{err}");
        assert!(matches!(
            store.delete("nobody"),
            Err(KeyError::NotFound { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn insecure_and_malformed_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("arke-keys-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("loose.json");
        std::fs::write(&file, b"{}").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = KeyStore::new(&dir);
        let err = store.load("loose").unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, KeyError::InsecurePermissions { mode: 0o644, .. }),
            "{msg}"
        );
        assert!(msg.contains("chmod 600"), "{msg}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = store.load("loose").unwrap_err();
        assert!(matches!(err, KeyError::Malformed { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn private_write_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("arke-keys-write-{}", std::process::id()));
        let store = KeyStore::new(&dir);
        store.ensure_dir().unwrap();
        let file = dir.join("x.json");
        write_private(&file, b"{}").unwrap();
        write_private(&file, b"{\"a\":1}").unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(std::fs::read(&file).unwrap(), b"{\"a\":1}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
