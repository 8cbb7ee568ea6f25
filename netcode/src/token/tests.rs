//! Seat tokens: the documented vectors, every refusal, replays, rotation.

use super::*;

fn key(id: u32) -> Key {
    let mut secret = [0u8; SECRET_BYTES];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = i as u8;
    }
    Key::new(id, secret)
}

fn seat(user: &str, room: Option<&str>, expires_at: u64) -> Seat {
    let mut nonce = [0u8; NONCE_BYTES];
    for (i, b) in nonce.iter_mut().enumerate() {
        *b = 0xa0 + i as u8;
    }
    Seat {
        user: user.to_owned(),
        room: room.map(str::to_owned),
        expires_at,
        nonce,
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The test vectors of `docs/protocol.md` §8, read from the document itself so that the
/// two cannot drift: each block that starts with `token-vector` gives a key, a seat, the
/// token's bytes and its text.
#[test]
fn the_documented_vectors_mint_and_verify() {
    let doc = include_str!("../../../docs/protocol.md");
    let mut checked = 0;
    for block in doc.split("```").filter(|b| {
        b.trim_start_matches("text")
            .trim_start()
            .starts_with("token-vector")
    }) {
        let field = |name: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("vector lacks {name}:\n{block}"))
                .trim()
                .to_owned()
        };
        let secret: [u8; SECRET_BYTES] = hex(&field("secret")).try_into().unwrap();
        let key = Key::new(field("key_id").parse().unwrap(), secret);
        let room = field("room");
        let seat = Seat {
            user: field("user"),
            room: (room != "(any)").then_some(room),
            expires_at: field("expires_at").parse().unwrap(),
            nonce: hex(&field("nonce")).try_into().unwrap(),
        };
        let token = key.mint(&seat).unwrap();
        assert_eq!(token, field("token"), "minted text of {seat:?}");
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&token).unwrap(),
            hex(&field("bytes")),
            "bytes of {seat:?}"
        );
        let keys = KeySet::new(vec![key]).unwrap();
        assert_eq!(keys.verify(&token, seat.expires_at - 1).unwrap(), seat);
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} vectors in the document");
}

#[test]
fn each_refusal_says_why() {
    let keys = KeySet::new(vec![key(7)]).unwrap();
    let good = key(7).mint(&seat("alice", Some("room-0"), 1000)).unwrap();
    assert_eq!(keys.verify(&good, 999).unwrap().user, "alice");
    // Expired: at its expiry second and after.
    assert_eq!(
        keys.verify(&good, 1030),
        Err(TokenError::Expired { ago_s: 30 })
    );
    // Signed with a key this server does not know.
    let other = key(8).mint(&seat("alice", None, 1000)).unwrap();
    assert_eq!(keys.verify(&other, 0), Err(TokenError::UnknownKey(8)));
    // Forged: a secret guessed wrong, or a field changed after signing.
    let forged = Key::new(7, [9; SECRET_BYTES])
        .mint(&seat("alice", None, 1000))
        .unwrap();
    assert_eq!(keys.verify(&forged, 0), Err(TokenError::BadSignature));
    let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
    bytes[40] ^= 1; // a letter of the user id
    assert_eq!(
        keys.verify(&URL_SAFE_NO_PAD.encode(&bytes), 0),
        Err(TokenError::BadSignature)
    );
    // Not a token at all.
    for (text, what) in [
        ("", "empty"),
        ("not base64!", "not base64url"),
        ("AQ", "too short"),
        ("Ag", "unknown token version"),
    ] {
        assert_eq!(
            keys.verify(text, 0),
            Err(TokenError::Malformed(what)),
            "{text}"
        );
    }
    assert_eq!(
        keys.verify(&"A".repeat(2000), 0),
        Err(TokenError::Malformed("too long"))
    );
    // The room: its own, any when asked for none, never another.
    let seat = keys.verify(&good, 0).unwrap();
    assert_eq!(seat.room_for(None), Ok(Some("room-0")));
    assert_eq!(seat.room_for(Some("room-0")), Ok(Some("room-0")));
    assert!(matches!(
        seat.room_for(Some("room-1")),
        Err(TokenError::WrongRoom { .. })
    ));
    let anywhere = keys
        .verify(&key(7).mint(&self::seat("bob", None, 1000)).unwrap(), 0)
        .unwrap();
    assert_eq!(anywhere.room_for(Some("room-1")), Ok(Some("room-1")));
    assert_eq!(anywhere.room_for(None), Ok(None));
    // Every message names the problem for the person refused.
    assert!(TokenError::Missing.to_string().contains("missing"));
    assert!(TokenError::Replayed.to_string().contains("already used"));
}

#[test]
fn a_token_is_admitted_once_until_it_expires() {
    let mut guard = ReplayGuard::new(3, Duration::from_secs(600));
    let first = seat("alice", None, 100);
    guard.admit(&first, 10).unwrap();
    assert_eq!(guard.admit(&first, 50), Err(TokenError::Replayed));
    // A join that failed for another reason gives the token back.
    guard.release(&first);
    guard.admit(&first, 51).unwrap();
    // Bounded: full, it refuses rather than forget.
    let mut others: Vec<Seat> = (0..2)
        .map(|i| {
            let mut s = seat("bob", None, 200);
            s.nonce[0] = i;
            s
        })
        .collect();
    for s in &others {
        guard.admit(s, 60).unwrap();
    }
    others[0].nonce[0] = 9;
    assert_eq!(guard.admit(&others[0], 60), Err(TokenError::Busy));
    // Expired tokens are forgotten (and could not verify any more anyway).
    guard.admit(&others[0], 150).unwrap();
    assert_eq!(guard.len(), 3);
    // A token valid for longer than the guard keeps them is refused.
    let long = seat("carol", None, 10_000);
    assert_eq!(
        guard.admit(&long, 150),
        Err(TokenError::TooLong {
            ttl_s: 9850,
            max_s: 600
        })
    );
}

#[test]
fn key_files_round_trip_and_rotate() {
    let mut keys = KeySet::new(vec![Key::generate(1).unwrap()]).unwrap();
    let token = keys
        .newest()
        .unwrap()
        .mint_for("alice", None, Duration::from_secs(60), 1000)
        .unwrap();
    // A second key: servers with both accept tokens of either; the newest signs.
    let added = keys.add_new().unwrap().id();
    assert_eq!(added, 2);
    let text = keys.to_toml();
    assert!(text.contains("Keep this file secret"), "{text}");
    let read = KeySet::from_toml(&text).unwrap();
    assert_eq!(read, keys);
    assert_eq!(read.newest().unwrap().id(), 2);
    assert_eq!(read.verify(&token, 1001).unwrap().user, "alice");
    // Bad files say what is wrong.
    for (text, what) in [
        ("", "no [[key]]"),
        ("[[key]]\nid = 1\nsecret = \"abc\"\n", "64 hex digits"),
        ("[[key]]\nid = 1\n", "secret"),
        (
            "[[key]]\nid = 1\nsecret = \"{0}\"\n[[key]]\nid = 1\nsecret = \"{0}\"\n",
            "appears twice",
        ),
    ] {
        let text = text.replace("{0}", &"ab".repeat(32));
        let err = KeySet::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(what), "{err} for {text:?}");
    }
    // Keys never print their secret.
    let shown = format!("{:?}", keys.keys()[0]);
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn minting_refuses_what_no_server_could_read() {
    let k = key(1);
    assert!(k.mint(&seat("", None, 1)).is_err());
    assert!(k.mint(&seat(&"u".repeat(65), None, 1)).is_err());
    assert!(k.mint(&seat("u", Some(""), 1)).is_err());
    assert!(k.mint(&seat("u", Some(&"r".repeat(65)), 1)).is_err());
    let longest = k
        .mint(&seat(&"u".repeat(64), Some(&"r".repeat(64)), 1))
        .unwrap();
    assert!(longest.len() < crate::protocol::MAX_TEXT_BYTES);
    assert!(KeySet::new(vec![k]).unwrap().verify(&longest, 0).is_ok());
}

proptest::proptest! {
    #[test]
    fn any_text_is_refused_or_verified_without_panic(text in ".{0,300}") {
        let keys = KeySet::new(vec![key(7)]).unwrap();
        let _ = keys.verify(&text, 0);
    }

    #[test]
    fn any_bit_flip_of_a_token_is_refused(bit in 0usize..(8 * 80)) {
        let keys = KeySet::new(vec![key(7)]).unwrap();
        let mut bytes = URL_SAFE_NO_PAD
            .decode(key(7).mint(&seat("alice", Some("room-0"), 1000)).unwrap())
            .unwrap();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        proptest::prop_assert!(keys.verify(&URL_SAFE_NO_PAD.encode(&bytes), 0).is_err());
    }
}
