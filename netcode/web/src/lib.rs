//! `tickwire-netcode` for browsers: the very client netcode native clients and the bots link —
//! clock sync, input prediction with reconciliation, snapshot interpolation — compiled to
//! WebAssembly for the game page (`/play`), not a rewrite. It is sans-IO like the rest: the
//! page moves bytes between it and a WebTransport session (the control stream's bytes in,
//! datagrams both ways) and asks it what to draw.
//!
//! This crate is the browser's I/O shell around the sans-IO netcode: it reads the clock
//! (`performance.now()`, through `web_time`) where the native shells do.
//!
//! Built for the page with `cargo build -p tickwire-web --target wasm32-unknown-unknown
//! --release` and `wasm-bindgen --target web` (see `netcode/web/build.sh`).

// The edge: the one place the browser client reads the time.
#![allow(clippy::disallowed_methods)]

use tickwire_netcode::client::{ClientConfig, ClientNetcode};
use tickwire_netcode::protocol::{
    ClientControl, Hello, PROTOCOL_VERSION, ServerControl, Welcome, control_frame_len,
    decode_control, encode_control,
};
use tickwire_netcode::schema::Schema;
use tickwire_netcode::{TickRate, tunables};
use tickwire_sim::arena::client::ArenaPrediction;
use tickwire_sim::arena::replication::{KIND_PLAYER, WireInput, alive, rendered_position};
use tickwire_sim::arena::{ArenaConfig, PlayerInput, Rules};
use wasm_bindgen::prelude::*;
use web_time::Instant;

/// The hello a page sends first on its control stream, framed (length prefix and codec, as
/// `docs/protocol.md` section 3 says), asking for `room` if it names one.
///
/// # Errors
/// Never for a name of sane length (an encoding bug otherwise).
#[wasm_bindgen]
pub fn hello_frame(name: &str, room: Option<String>) -> Result<Vec<u8>, JsError> {
    let hello = ClientControl::Hello(Hello {
        version: PROTOCOL_VERSION,
        name: name.chars().take(32).collect(),
        room,
        token: None,
    });
    let mut frame = Vec::new();
    encode_control(&hello, &mut frame).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(frame)
}

/// Reads the server's control stream: bytes in, whole messages out.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct ControlReader {
    pending: Vec<u8>,
    welcome: Option<Welcome>,
}

#[wasm_bindgen]
impl ControlReader {
    /// A reader with nothing read yet.
    #[wasm_bindgen(constructor)]
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes bytes read from the control stream; returns each whole message it completes
    /// as a JSON array of `{"type": "welcome" | "reject" | "goodbye" | "tunables" | "event",
    /// …}`. A welcome is kept for [`client`](Self::client).
    ///
    /// # Errors
    /// A frame that is too long or does not decode: the stream cannot be trusted after it.
    pub fn push(&mut self, bytes: &[u8]) -> Result<String, JsError> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(header) = self.pending.first_chunk::<4>().copied() {
            let len = control_frame_len(header).map_err(|e| JsError::new(&e.to_string()))?;
            let Some(body) = self.pending.get(4..4 + len) else {
                break;
            };
            let message: ServerControl =
                decode_control(body).map_err(|e| JsError::new(&e.to_string()))?;
            self.pending.drain(..4 + len);
            out.push(match message {
                ServerControl::Welcome(welcome) => {
                    let json = serde_json::json!({
                        "type": "welcome",
                        "client_id": welcome.client_id,
                        "room": welcome.room,
                        "entity": welcome.entity_index,
                        "tick_hz": welcome.tick_hz,
                        "snapshot_hz": welcome.snapshot_hz,
                    });
                    self.welcome = Some(welcome);
                    json
                }
                ServerControl::Reject { reason, message } => serde_json::json!({
                    "type": "reject", "reason": format!("{reason:?}"), "message": message,
                }),
                ServerControl::Goodbye { reason, message } => serde_json::json!({
                    "type": "goodbye", "reason": format!("{reason:?}"), "message": message,
                }),
                ServerControl::Tunables { .. } => serde_json::json!({"type": "tunables"}),
                ServerControl::Event(_) => serde_json::json!({"type": "event"}),
            });
        }
        Ok(serde_json::Value::from(out).to_string())
    }

    /// The arena client the welcome describes, once it has arrived: its rules from the
    /// welcome's tunables, its decoder from the welcome's schema.
    ///
    /// # Errors
    /// No welcome yet, or one that does not describe an arena.
    pub fn client(&self) -> Result<ArenaClient, JsError> {
        let welcome = self
            .welcome
            .as_ref()
            .ok_or_else(|| JsError::new("no welcome yet"))?;
        let fail = |e: String| JsError::new(&e);
        let arena: ArenaConfig =
            tunables::unflatten(&welcome.tunables).map_err(|e| fail(e.to_string()))?;
        let rate = TickRate::new(welcome.tick_hz).map_err(|e| fail(e.to_string()))?;
        let rules = Rules::new(arena, rate).map_err(|e| fail(e.to_string()))?;
        let schema = Schema::from_description(&welcome.schema).map_err(|e| fail(e.to_string()))?;
        let config = ClientConfig::from_welcome(welcome).map_err(|e| fail(e.to_string()))?;
        Ok(ArenaClient {
            net: ClientNetcode::new(ArenaPrediction::new(rules), schema, config, Instant::now()),
            width_m: arena_size(&welcome.tunables, "width_m"),
            height_m: arena_size(&welcome.tunables, "height_m"),
        })
    }
}

/// A tunable's number (the arena's size), 100 if it is missing.
fn arena_size(tunables: &[tunables::Tunable], key: &str) -> f64 {
    tunables
        .iter()
        .find(|t| t.key == key)
        .and_then(|t| match &t.value {
            tunables::Value::Float(v) => Some(*v),
            tunables::Value::Int(v) => Some(*v as f64),
            _ => None,
        })
        .unwrap_or(100.0)
}

/// One player's arena client: the native netcode, fed by the page.
#[wasm_bindgen]
#[derive(Debug)]
pub struct ArenaClient {
    net: ClientNetcode<ArenaPrediction>,
    width_m: f64,
    height_m: f64,
}

#[wasm_bindgen]
impl ArenaClient {
    /// Hands the client a datagram the session received; `false` if it was not a valid
    /// snapshot part (counted, and otherwise ignored).
    pub fn handle_datagram(&mut self, bytes: &[u8]) -> bool {
        self.net.handle_datagram(Instant::now(), bytes).is_ok()
    }

    /// The next input datagram due now, for the stick (`move_x`, `move_y` in −1..=1), the
    /// aim (radians) and the trigger; `None` when no tick is due. Call until `None` each
    /// frame and send each on the session.
    pub fn next_input(
        &mut self,
        move_x: f32,
        move_y: f32,
        aim_rad: f32,
        fire: bool,
    ) -> Option<Vec<u8>> {
        let tick = self.net.next_input_tick(Instant::now())?;
        let input = WireInput::from_input(&PlayerInput {
            movement: glam_vec2(move_x, move_y),
            aim_rad,
            fire,
        });
        self.net.submit_input(tick, input).ok().map(<[u8]>::to_vec)
    }

    /// Advances the clocks and returns what to draw now, as JSON: `{"synced", "me": [x, y,
    /// alive] (predicted), "players": [[index, x, y, aim, alive], …] (interpolated), "props":
    /// [[x, y], …], "arena": [width, height], "stats": {…}}`, positions in metres.
    pub fn frame(&mut self) -> String {
        let now = Instant::now();
        self.net.frame(now);
        let own = self.net.config().entity_index;
        let me = self
            .net
            .predicted()
            .map(|p| serde_json::json!([p.pos.x, p.pos.y, p.alive]));
        let mut players = Vec::new();
        let mut props = Vec::new();
        if let (Some(frame), Some(latest)) = (self.net.render_frame(), self.net.receiver().latest())
        {
            for &(index, state) in &latest.entities {
                let Some((kind, fields)) = frame.entity(self.net.schema(), index) else {
                    continue;
                };
                let pos = rendered_position(&fields);
                if kind == KIND_PLAYER {
                    if index != own {
                        players.push(serde_json::json!([
                            index,
                            pos.x,
                            pos.y,
                            fields[2],
                            alive(&state)
                        ]));
                    }
                } else {
                    props.push(serde_json::json!([pos.x, pos.y]));
                }
            }
        }
        let stats = self.net.stats();
        let prediction = self.net.prediction_stats();
        serde_json::json!({
            "synced": self.net.is_synced(),
            "me": me,
            "players": players,
            "props": props,
            "arena": [self.width_m, self.height_m],
            "stats": {
                "snapshots": stats.snapshots,
                "bad_datagrams": stats.bad_datagrams,
                "frames": stats.frames,
                "corrections": prediction.corrections,
                "checked": prediction.checked,
            },
        })
        .to_string()
    }
}

fn glam_vec2(x: f32, y: f32) -> glam::Vec2 {
    glam::Vec2::new(x, y)
}
