//! Admission: who may join. An open server admits anyone who reaches its port; a server in
//! token mode admits only clients with a valid, unused seat token from the game's
//! matchmaker (see [`tickwire_netcode::token`] and `docs/protocol.md` section 8).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tickwire_netcode::protocol::Hello;
use tickwire_netcode::token::{DEFAULT_REPLAY_CAPACITY, KeySet, ReplayGuard, Seat, TokenError};

use crate::config::{AuthMode, ServerConfig};

/// How a server decides who may join.
#[derive(Debug)]
pub struct Admission {
    mode: AuthMode,
    keys: RwLock<Arc<KeySet>>,
    guard: Mutex<ReplayGuard>,
}

/// A client admitted by [`Admission::check`]: who it is and where its seat is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The seat its token granted (`None` on an open server).
    pub seat: Option<Seat>,
    /// The room it joins: the seat's, or the one it asked for; `None` to be placed.
    pub room: Option<String>,
}

impl Admitted {
    /// The player's identity: the user id its token named.
    #[must_use]
    pub fn user(&self) -> Option<&str> {
        self.seat.as_ref().map(|s| s.user.as_str())
    }
}

impl Admission {
    /// Anyone may join.
    #[must_use]
    pub fn open() -> Self {
        Self::new(AuthMode::Open, KeySet::default(), Duration::from_secs(3600))
    }

    /// Only clients with a seat token signed by one of `keys`, valid for at most `max_ttl`
    /// from the moment they join, each admitted once.
    #[must_use]
    pub fn tokens(keys: KeySet, max_ttl: Duration) -> Self {
        Self::new(AuthMode::Token, keys, max_ttl)
    }

    fn new(mode: AuthMode, keys: KeySet, max_ttl: Duration) -> Self {
        Self {
            mode,
            keys: RwLock::new(Arc::new(keys)),
            guard: Mutex::new(ReplayGuard::new(DEFAULT_REPLAY_CAPACITY, max_ttl)),
        }
    }

    /// The admission `config`'s `[auth]` section asks for, reading its key file.
    ///
    /// # Errors
    /// The key file cannot be read or holds no usable key.
    pub fn from_config<C>(config: &ServerConfig<C>) -> Result<Self, KeyFileError> {
        Ok(match config.auth.mode {
            AuthMode::Open => Self::open(),
            AuthMode::Token => Self::tokens(
                read_key_file(config.auth.key_file.as_ref())?,
                Duration::from_secs(u64::from(config.auth.max_token_ttl_s)),
            ),
        })
    }

    /// Whether tokens are checked.
    #[must_use]
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Replaces the keys (a reload after a rotation); tokens already admitted stay used.
    pub fn set_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }

    /// Checks `hello` at `now_s` (Unix seconds) and, in token mode, takes its token's seat
    /// (the token cannot be used again unless [`release`](Self::release)d).
    ///
    /// # Errors
    /// Why the token was refused.
    pub fn check_at(&self, hello: &Hello, now_s: u64) -> Result<Admitted, TokenError> {
        if self.mode == AuthMode::Open {
            return Ok(Admitted {
                seat: None,
                room: hello.room.clone(),
            });
        }
        let token = hello.token.as_deref().ok_or(TokenError::Missing)?;
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner));
        let seat = keys.verify(token, now_s)?;
        let room = seat.room_for(hello.room.as_deref())?.map(str::to_owned);
        self.guard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(&seat, now_s)?;
        Ok(Admitted {
            seat: Some(seat),
            room,
        })
    }

    /// [`check_at`](Self::check_at) the system clock's now.
    ///
    /// # Errors
    /// As `check_at`.
    pub fn check(&self, hello: &Hello) -> Result<Admitted, TokenError> {
        self.check_at(hello, unix_now())
    }

    /// Gives back the seat of a client whose join failed for another reason (a full room),
    /// so its token can be used again.
    pub fn release(&self, admitted: &Admitted) {
        if let Some(seat) = &admitted.seat {
            self.guard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .release(seat);
        }
    }
}

/// Seconds since the Unix epoch by the system clock (0 before it).
#[must_use]
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A seat-token key file that cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// It cannot be read.
    #[error("cannot read the key file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (said in the message).
        error: std::io::Error,
    },
    /// It holds no usable key.
    #[error("{}: {error}", path.display())]
    Keys {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (said in the message).
        error: TokenError,
    },
    /// A new key file would replace one.
    #[error("{} already exists: pass --add to add a key to it, or choose another path", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// It cannot be written.
    #[error("cannot write the key file {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why (said in the message).
        error: std::io::Error,
    },
}

/// Reads a key file.
///
/// # Errors
/// It cannot be read or holds no usable key.
pub fn read_key_file(path: &Path) -> Result<KeySet, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| KeyFileError::Read {
        path: path.to_owned(),
        error,
    })?;
    KeySet::from_toml(&text).map_err(|error| KeyFileError::Keys {
        path: path.to_owned(),
        error,
    })
}

/// Writes `keys` to a new key file at `path` that only its owner can read.
///
/// # Errors
/// The file exists (when `create` is true) or cannot be written.
pub fn write_key_file(path: &Path, keys: &KeySet, create: bool) -> Result<(), KeyFileError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if create {
        options.create_new(true);
    } else {
        options.truncate(true);
    }
    let failed = |error: std::io::Error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyFileError::Write {
                path: path.to_owned(),
                error,
            }
        }
    };
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(keys.to_toml().as_bytes()).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_netcode::protocol::PROTOCOL_VERSION;
    use tickwire_netcode::token::Key;

    fn hello(room: Option<&str>, token: Option<String>) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            name: "ada".into(),
            room: room.map(str::to_owned),
            token,
        }
    }

    #[test]
    fn token_mode_admits_each_seat_once_in_its_room() {
        let key = Key::generate(3).unwrap();
        let admission = Admission::tokens(
            KeySet::new(vec![key.clone()]).unwrap(),
            Duration::from_secs(600),
        );
        let now = 1_000_000;
        let token = key
            .mint_for("u-42", Some("red"), Duration::from_secs(60), now)
            .unwrap();
        assert_eq!(
            admission.check_at(&hello(None, None), now),
            Err(TokenError::Missing)
        );
        assert!(matches!(
            admission.check_at(&hello(Some("blue"), Some(token.clone())), now),
            Err(TokenError::WrongRoom { .. })
        ));
        let admitted = admission
            .check_at(&hello(None, Some(token.clone())), now)
            .unwrap();
        assert_eq!(
            (admitted.user(), admitted.room.as_deref()),
            (Some("u-42"), Some("red"))
        );
        assert_eq!(
            admission.check_at(&hello(None, Some(token.clone())), now + 1),
            Err(TokenError::Replayed)
        );
        // A join that failed elsewhere gives the seat back.
        admission.release(&admitted);
        assert!(
            admission
                .check_at(&hello(None, Some(token)), now + 2)
                .is_ok()
        );
        // Open mode ignores tokens and keeps the room asked for.
        let open = Admission::open().check_at(&hello(Some("blue"), None), now);
        assert_eq!(open.unwrap().room.as_deref(), Some("blue"));
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let mut keys = KeySet::default();
        keys.add_new().unwrap();
        write_key_file(&path, &keys, true).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = write_key_file(&path, &keys, true).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        assert_eq!(read_key_file(&path).unwrap(), keys);
        let missing = read_key_file(&dir.path().join("nope.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.toml"), "{missing}");
    }
}
