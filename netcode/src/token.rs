//! Seat tokens: a matchmaker's signed word that a user may take a seat on a server.
//!
//! A matchmaker (or `tickwire-server token`) mints a token with a secret key it shares with
//! the game servers; a client passes it in `Hello.token`; a server that checks tokens admits
//! the client only if the token verifies with one of its keys, has not expired, names the
//! room the client joins (or any room), and has not been used before. Every key has an id,
//! carried in the token, so a new key can be added to the servers before the matchmaker
//! signs with it and the old one removed after: rotation with no downtime.
//!
//! The format, byte by byte, is in `docs/protocol.md` (section 8) with test vectors; any
//! language with HMAC-SHA256 and base64url can mint tokens. This module is sans-IO: the
//! time is passed in (Unix seconds), and the only outside input is the system's random
//! generator for new keys and nonces.

use std::collections::{BinaryHeap, HashSet};
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The token format this module reads and writes (the token's first byte).
pub const TOKEN_VERSION: u8 = 1;
/// Bytes of a key's secret.
pub const SECRET_BYTES: usize = 32;
/// Bytes of a token's nonce (random, unique per token).
pub const NONCE_BYTES: usize = 16;
/// Bytes of the HMAC-SHA256 tag that ends a token.
pub const TAG_BYTES: usize = 32;
/// Longest user id (bytes of UTF-8).
pub const MAX_USER_BYTES: usize = 64;
/// Longest room name in a token (bytes of UTF-8).
pub const MAX_ROOM_BYTES: usize = 64;
/// Bytes before the room: version, key id, expiry, nonce.
const FIXED_BYTES: usize = 1 + 4 + 8 + NONCE_BYTES;
/// Unspent tokens a [`ReplayGuard`] remembers by default.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1 << 20;

/// Why a token was refused or could not be made. The text is what a refused client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The client sent no token to a server that requires one.
    #[error("missing seat token: this server admits only players its matchmaker invited")]
    Missing,
    /// The bytes are not a token.
    #[error("malformed seat token: {0}")]
    Malformed(&'static str),
    /// No key of this server has the token's key id.
    #[error("seat token signed with unknown key id {0}")]
    UnknownKey(u32),
    /// The tag does not match: forged, altered, or signed with another secret.
    #[error("seat token has a bad signature")]
    BadSignature,
    /// The token's time is up.
    #[error("seat token expired {ago_s} s ago")]
    Expired {
        /// Seconds since it expired.
        ago_s: u64,
    },
    /// The token is for another room than the one asked for.
    #[error("seat token is for room {token:?}, not {asked:?}")]
    WrongRoom {
        /// The room the token names.
        token: String,
        /// The room the client asked for.
        asked: String,
    },
    /// The token was used before (tokens are single use).
    #[error("seat token already used")]
    Replayed,
    /// The token would stay valid longer than the server accepts.
    #[error("seat token valid for {ttl_s} s, longer than the {max_s} s this server accepts")]
    TooLong {
        /// Seconds from now to its expiry.
        ttl_s: u64,
        /// The most the server accepts.
        max_s: u64,
    },
    /// The server remembers as many unexpired tokens as it can and takes no more for now.
    #[error("server busy: too many unexpired seat tokens in use")]
    Busy,
    /// A field is out of range for a token being made.
    #[error("cannot make a seat token: {0}")]
    Invalid(&'static str),
    /// The system's random generator failed.
    #[error("no randomness available for a key or nonce")]
    Random,
    /// A key file that cannot be used.
    #[error("key file: {0}")]
    KeyFile(String),
}

/// One shared secret with its id.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    id: u32,
    secret: [u8; SECRET_BYTES],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key from its id and secret.
    #[must_use]
    pub fn new(id: u32, secret: [u8; SECRET_BYTES]) -> Self {
        Self { id, secret }
    }

    /// A new key with a random secret.
    ///
    /// # Errors
    /// [`TokenError::Random`] if the system has no randomness.
    pub fn generate(id: u32) -> Result<Self, TokenError> {
        let mut secret = [0u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| TokenError::Random)?;
        Ok(Self { id, secret })
    }

    /// The key's id, which tokens it signs carry.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.id
    }

    fn hmac(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.secret)
    }

    /// Signs `seat` into a token (base64url text, as `Hello.token` carries it).
    ///
    /// # Errors
    /// [`TokenError::Invalid`] if the user id is empty or a name is too long.
    pub fn mint(&self, seat: &Seat) -> Result<String, TokenError> {
        let user = seat.user.as_bytes();
        let room = seat.room.as_deref().unwrap_or("").as_bytes();
        if user.is_empty() || user.len() > MAX_USER_BYTES {
            return Err(TokenError::Invalid("the user id must be 1 to 64 bytes"));
        }
        if room.len() > MAX_ROOM_BYTES || seat.room.as_deref() == Some("") {
            return Err(TokenError::Invalid("a room name must be 1 to 64 bytes"));
        }
        let mut bytes = Vec::with_capacity(FIXED_BYTES + 2 + room.len() + user.len() + TAG_BYTES);
        bytes.push(TOKEN_VERSION);
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes.extend_from_slice(&seat.expires_at.to_le_bytes());
        bytes.extend_from_slice(&seat.nonce);
        bytes.push(room.len() as u8);
        bytes.extend_from_slice(room);
        bytes.push(user.len() as u8);
        bytes.extend_from_slice(user);
        let tag = hmac::sign(&self.hmac(), &bytes);
        bytes.extend_from_slice(tag.as_ref());
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Mints a token for `user` in `room` (`None`: any room) that expires `ttl` after
    /// `now_s` (Unix seconds), with a random nonce.
    ///
    /// # Errors
    /// As [`mint`](Self::mint), and [`TokenError::Random`].
    pub fn mint_for(
        &self,
        user: &str,
        room: Option<&str>,
        ttl: Duration,
        now_s: u64,
    ) -> Result<String, TokenError> {
        self.mint(&Seat {
            user: user.to_owned(),
            room: room.map(str::to_owned),
            expires_at: now_s.saturating_add(ttl.as_secs()),
            nonce: random_nonce()?,
        })
    }
}

/// A fresh random nonce.
///
/// # Errors
/// [`TokenError::Random`] if the system has no randomness.
pub fn random_nonce() -> Result<[u8; NONCE_BYTES], TokenError> {
    let mut nonce = [0u8; NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| TokenError::Random)?;
    Ok(nonce)
}

/// What a token says: who may sit where, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The player's user id (1..=64 bytes of UTF-8): their identity on the server.
    pub user: String,
    /// The room the seat is in; `None` for any room.
    pub room: Option<String>,
    /// When the token stops being valid (Unix time, seconds).
    pub expires_at: u64,
    /// Unique per token; a server admits each nonce once.
    pub nonce: [u8; NONCE_BYTES],
}

impl Seat {
    /// The room a client with this seat joins when it asked for `asked`: the seat's room
    /// (or `asked`, for an any-room seat).
    ///
    /// # Errors
    /// [`TokenError::WrongRoom`] when it asked for another room than the seat's.
    pub fn room_for<'a>(&'a self, asked: Option<&'a str>) -> Result<Option<&'a str>, TokenError> {
        match (self.room.as_deref(), asked) {
            (Some(seat), Some(asked)) if seat != asked => Err(TokenError::WrongRoom {
                token: seat.to_owned(),
                asked: asked.to_owned(),
            }),
            (Some(seat), _) => Ok(Some(seat)),
            (None, asked) => Ok(asked),
        }
    }
}

/// The keys a server accepts (or a matchmaker signs with), by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// The key file's form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: u32,
    secret: String,
}

const KEY_FILE_HEAD: &str = "\
# Tickwire seat-token keys. Keep this file secret: whoever reads it can mint tokens.
# Servers accept tokens signed with any key listed here; `tickwire-server token` signs with
# the newest (the highest id). To rotate with no downtime: add a key
# (`tickwire-server keygen --out THIS_FILE --add`), give the file to every server and
# reload them (SIGHUP), then let the matchmaker sign with the new key; remove the old one
# once its last tokens have expired. Each secret is 32 bytes as 64 hex digits.
";

impl KeySet {
    /// A set of the given keys.
    ///
    /// # Errors
    /// [`TokenError::KeyFile`] if two keys share an id.
    pub fn new(keys: Vec<Key>) -> Result<Self, TokenError> {
        let mut ids = HashSet::new();
        if let Some(dup) = keys.iter().find(|k| !ids.insert(k.id)) {
            return Err(TokenError::KeyFile(format!(
                "key id {} appears twice",
                dup.id
            )));
        }
        Ok(Self { keys })
    }

    /// Reads a key file's text (TOML: `[[key]]` tables of `id` and `secret`).
    ///
    /// # Errors
    /// [`TokenError::KeyFile`] saying what is wrong: not TOML, a secret that is not 64 hex
    /// digits, a repeated id, no key at all.
    pub fn from_toml(text: &str) -> Result<Self, TokenError> {
        let file: KeyFile = toml::from_str(text).map_err(|e| TokenError::KeyFile(e.to_string()))?;
        let keys = file
            .key
            .iter()
            .map(|entry| {
                parse_secret(&entry.secret)
                    .map(|secret| Key::new(entry.id, secret))
                    .map_err(|what| TokenError::KeyFile(format!("key id {}: {what}", entry.id)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(TokenError::KeyFile("no [[key]] in the file".to_owned()));
        }
        Self::new(keys)
    }

    /// The key file's text for these keys, with a comment on how to use and rotate it.
    #[must_use]
    pub fn to_toml(&self) -> String {
        use std::fmt::Write as _;
        let mut text = KEY_FILE_HEAD.to_owned();
        for key in &self.keys {
            let hex = key.secret.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
            let _ = write!(text, "\n[[key]]\nid = {}\nsecret = \"{hex}\"\n", key.id);
        }
        text
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key with `id`.
    #[must_use]
    pub fn get(&self, id: u32) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The newest key (the highest id): the one to sign with.
    #[must_use]
    pub fn newest(&self) -> Option<&Key> {
        self.keys.iter().max_by_key(|k| k.id)
    }

    /// Adds a new random key with the next id and returns it.
    ///
    /// # Errors
    /// [`TokenError::Random`] if the system has no randomness.
    pub fn add_new(&mut self) -> Result<&Key, TokenError> {
        let id = self.newest().map_or(1, |k| k.id.saturating_add(1));
        self.keys.push(Key::generate(id)?);
        self.keys.last().ok_or(TokenError::Random)
    }

    /// Checks `token` at `now_s` (Unix seconds): its form, its key, its signature and its
    /// expiry, and returns the seat it grants. (Whether it was used before is the
    /// [`ReplayGuard`]'s to say, and the room the caller's.)
    ///
    /// # Errors
    /// The first check that fails, as a [`TokenError`].
    pub fn verify(&self, token: &str, now_s: u64) -> Result<Seat, TokenError> {
        // Longest valid token: 30 fixed bytes, two names of 64 and their lengths, the tag.
        const MAX_TEXT: usize =
            (FIXED_BYTES + 2 + MAX_ROOM_BYTES + MAX_USER_BYTES + TAG_BYTES).div_ceil(3) * 4;
        if token.len() > MAX_TEXT {
            return Err(TokenError::Malformed("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| TokenError::Malformed("not base64url"))?;
        let (&version, _) = bytes.split_first().ok_or(TokenError::Malformed("empty"))?;
        if version != TOKEN_VERSION {
            return Err(TokenError::Malformed("unknown token version"));
        }
        if bytes.len() < FIXED_BYTES + 2 + 1 + TAG_BYTES {
            return Err(TokenError::Malformed("too short"));
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let key_id = u32::from_le_bytes(array(body, 1)?);
        let key = self.get(key_id).ok_or(TokenError::UnknownKey(key_id))?;
        hmac::verify(&key.hmac(), body, tag).map_err(|_| TokenError::BadSignature)?;
        let expires_at = u64::from_le_bytes(array(body, 5)?);
        let nonce: [u8; NONCE_BYTES] = array(body, 13)?;
        let mut rest = body.get(FIXED_BYTES..).unwrap_or_default();
        let room = text(&mut rest, MAX_ROOM_BYTES)?;
        let user = text(&mut rest, MAX_USER_BYTES)?;
        if !rest.is_empty() {
            return Err(TokenError::Malformed("bytes after the user id"));
        }
        if user.is_empty() {
            return Err(TokenError::Malformed("empty user id"));
        }
        if now_s >= expires_at {
            return Err(TokenError::Expired {
                ago_s: now_s - expires_at,
            });
        }
        Ok(Seat {
            user,
            room: (!room.is_empty()).then_some(room),
            expires_at,
            nonce,
        })
    }
}

/// `N` bytes of `bytes` from `at`.
fn array<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], TokenError> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(TokenError::Malformed("too short"))
}

/// A length byte and that many bytes of UTF-8 (at most `max`), taken from the front.
fn text(rest: &mut &[u8], max: usize) -> Result<String, TokenError> {
    let (&len, tail) = rest
        .split_first()
        .ok_or(TokenError::Malformed("too short"))?;
    let len = usize::from(len);
    if len > max {
        return Err(TokenError::Malformed("a name longer than 64 bytes"));
    }
    let (name, tail) = tail
        .split_at_checked(len)
        .ok_or(TokenError::Malformed("too short"))?;
    *rest = tail;
    String::from_utf8(name.to_vec()).map_err(|_| TokenError::Malformed("a name not UTF-8"))
}

fn parse_secret(hex: &str) -> Result<[u8; SECRET_BYTES], &'static str> {
    let hex = hex.trim();
    if hex.len() != 2 * SECRET_BYTES {
        return Err("the secret must be 64 hex digits");
    }
    let mut secret = [0u8; SECRET_BYTES];
    for (byte, pair) in secret.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = std::str::from_utf8(pair)
            .ok()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or("the secret must be 64 hex digits")?;
    }
    Ok(secret)
}

/// The nonces of tokens already admitted, each kept until its token expires: a token
/// presented twice before it expires is refused the second time. Bounded: past its
/// capacity it refuses new tokens ([`TokenError::Busy`]) rather than forget used ones.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: HashSet<[u8; NONCE_BYTES]>,
    /// Nonces by expiry, soonest first, to forget them when they expire.
    expiries: BinaryHeap<std::cmp::Reverse<(u64, [u8; NONCE_BYTES])>>,
    capacity: usize,
    max_ttl_s: u64,
}

impl ReplayGuard {
    /// A guard that remembers at most `capacity` unexpired tokens and refuses tokens valid
    /// for more than `max_ttl` from the moment they are presented (so none is remembered for
    /// longer).
    #[must_use]
    pub fn new(capacity: usize, max_ttl: Duration) -> Self {
        Self {
            seen: HashSet::new(),
            expiries: BinaryHeap::new(),
            capacity,
            max_ttl_s: max_ttl.as_secs(),
        }
    }

    /// Tokens remembered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no token is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Admits `seat`'s token at `now_s` if it was not admitted before, and remembers it.
    ///
    /// # Errors
    /// [`TokenError::Replayed`] for a token admitted before, [`TokenError::TooLong`] for one
    /// valid longer than the guard's limit, [`TokenError::Busy`] when full.
    pub fn admit(&mut self, seat: &Seat, now_s: u64) -> Result<(), TokenError> {
        while let Some(std::cmp::Reverse((expires, nonce))) = self.expiries.peek().copied() {
            if expires > now_s {
                break;
            }
            self.expiries.pop();
            self.seen.remove(&nonce);
        }
        let ttl_s = seat.expires_at.saturating_sub(now_s);
        if ttl_s > self.max_ttl_s {
            return Err(TokenError::TooLong {
                ttl_s,
                max_s: self.max_ttl_s,
            });
        }
        if self.seen.contains(&seat.nonce) {
            return Err(TokenError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(TokenError::Busy);
        }
        self.seen.insert(seat.nonce);
        self.expiries
            .push(std::cmp::Reverse((seat.expires_at, seat.nonce)));
        Ok(())
    }

    /// Forgets an admitted token whose join then failed for another reason (a full room),
    /// so the player can try again with it.
    pub fn release(&mut self, seat: &Seat) {
        // Its expiry entry stays; it finds nothing to remove when it comes due.
        self.seen.remove(&seat.nonce);
    }
}

/// For fuzzing: signs arbitrary bytes as a token body, so a fuzzer's inputs get past the
/// signature check to the fields behind it.
#[doc(hidden)]
pub mod fuzzing {
    use super::{Key, URL_SAFE_NO_PAD, hmac};
    use base64::Engine as _;

    /// `body` with `key`'s id written over bytes 1..5 and a valid tag appended, as text;
    /// `None` when it is too short to hold a key id.
    #[must_use]
    pub fn sign_raw(key: &Key, body: &[u8]) -> Option<String> {
        let mut bytes = body.to_vec();
        bytes.get_mut(1..5)?.copy_from_slice(&key.id.to_le_bytes());
        let tag = hmac::sign(&key.hmac(), &bytes);
        bytes.extend_from_slice(tag.as_ref());
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }
}

#[cfg(test)]
mod tests;
