//! Any bytes as an arena input datagram: an error or inputs that are valid once converted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_netcode::protocol::decode_input;
use tickwire_sim::arena::replication::WireInput;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = decode_input::<WireInput>(data) {
        for frame in &datagram.inputs {
            assert!(frame.input.to_input().is_valid());
        }
    }
});
