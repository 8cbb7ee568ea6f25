//! Who is connected, for whoever outside the rooms keeps a roster of players (the Agones
//! `players` List). Connection tasks report each player's join and leave; the reports never
//! wait, and cost nothing when nobody listens.

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A player came or went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceEvent {
    /// A player was welcomed into a room.
    Joined(String),
    /// A player's connection ended (left, kicked, timed out or lost).
    Left(String),
}

/// Where connection tasks report players coming and going. The default listens to nobody.
#[derive(Clone, Debug, Default)]
pub struct Presence(Option<UnboundedSender<PresenceEvent>>);

impl Presence {
    /// A presence whose reports arrive at the receiver it returns.
    #[must_use]
    pub fn channel() -> (Self, UnboundedReceiver<PresenceEvent>) {
        let (tx, rx) = unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// How a player is named in a roster: the user id of its seat token, else
    /// `room/client` (client ids are per room).
    #[must_use]
    pub fn player_name(room: &str, client: u32, user: Option<&str>) -> String {
        user.map_or_else(|| format!("{room}/{client}"), str::to_owned)
    }

    /// Reports a player welcomed.
    pub fn joined(&self, player: &str) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(PresenceEvent::Joined(player.to_owned()));
        }
    }

    /// Reports a player gone.
    pub fn left(&self, player: &str) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(PresenceEvent::Left(player.to_owned()));
        }
    }
}
