//! Any text as a seat token: refused with a reason or verified, never a panic; and a token
//! that verifies says what was signed (re-minting its seat gives the same text back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_netcode::token::{Key, KeySet};

fuzz_target!(|data: &[u8]| {
    let key = Key::new(7, [0x5a; 32]);
    let Ok(keys) = KeySet::new(vec![key.clone()]) else {
        return;
    };
    // As text (Hello.token is a String), and as a token's own bytes signed correctly, so the
    // fuzzer also reaches the fields behind the signature check.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keys.verify(text, 0);
    }
    if let Some(token) = tickwire_netcode::token::fuzzing::sign_raw(&key, data) {
        if let Ok(seat) = keys.verify(&token, 0) {
            // What verifies is exactly what minting that seat writes.
            assert_eq!(key.mint(&seat).ok(), Some(token), "{seat:?}");
        }
    }
});
