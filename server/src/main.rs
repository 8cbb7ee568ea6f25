//! `tickwire-server`: the authoritative game server, hosting the built-in games (`--game`).
//!
//! Runs on the embedded default configuration with no arguments; see `--help`.

use tickwire_server::cli;
use tickwire_sim::arena::Arena;
use tickwire_sim::cubes3d::Cubes3d;

fn main() -> std::process::ExitCode {
    cli::main(&[cli::hosted::<Arena>(), cli::hosted::<Cubes3d>()])
}
