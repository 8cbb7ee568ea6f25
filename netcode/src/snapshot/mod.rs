//! Snapshots: the server's world, delta-compressed per client, split into datagrams.
//!
//! - [`WorldHistory`] keeps the world's quantized state at recent snapshot ticks (one per
//!   room, shared by all clients).
//! - [`SnapshotSender`] (server, one per client) codes each snapshot against the newest one
//!   the client acknowledged, predicting moving fields from the one before, fills the
//!   client's byte budget by priority, and splits the result into self-contained parts.
//! - [`SnapshotReceiver`] (client) reassembles parts against the baselines it holds and says
//!   which snapshot to acknowledge.
//!
//! The bit layout is in `wire` and specified in `docs/protocol.md`.

mod budget;
mod changed_set;
mod history;
mod overrides;
mod parts;
mod predict;
mod receiver;
mod section;
mod sender;
mod shared;
mod wire;

pub use history::{WorldAt, WorldHistory};
pub use parts::{MAX_PARTS, min_datagram_bytes};
pub use receiver::{Received, Snapshot, SnapshotReceiver};
pub use sender::{Private, SendError, SendReport, SenderConfig, SnapshotSender};
pub use shared::SharedEncoding;
pub use wire::{Feedback, MAX_INDEX, PartBits, SNAPSHOT_TAG, SnapshotError};

#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;
