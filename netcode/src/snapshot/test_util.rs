//! Helpers for the snapshot tests and the tests of modules built on snapshots.

use crate::schema::Schema;
use crate::tick::Tick;

use super::{Private, SendReport, SharedEncoding, SnapshotReceiver, SnapshotSender, WorldHistory};

/// Encodes `tick` for `sender` with no private block, equal weights and no sharing.
#[track_caller]
pub(crate) fn plain(
    sender: &mut SnapshotSender,
    schema: &Schema,
    history: &WorldHistory,
    tick: Tick,
) -> SendReport {
    sender
        .encode(
            schema,
            history,
            &mut SharedEncoding::new(),
            tick,
            Private::default(),
            &mut |_| 1.0,
        )
        .unwrap()
}

/// Hands every datagram of the last encode to `receiver`, which must accept them all.
#[track_caller]
pub(crate) fn deliver(sender: &SnapshotSender, receiver: &mut SnapshotReceiver) {
    for part in sender.datagrams() {
        receiver.handle_datagram(part).unwrap();
    }
}
