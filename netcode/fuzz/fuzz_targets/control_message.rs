//! Any bytes as a control frame body, in both directions: an error or a valid message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_netcode::protocol::{ClientControl, ServerControl, decode_control};

fuzz_target!(|data: &[u8]| {
    let _ = decode_control::<ClientControl>(data);
    let _ = decode_control::<ServerControl>(data);
});
