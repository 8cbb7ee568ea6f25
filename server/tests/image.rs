//! The container image (`server/deploy/Dockerfile`) as far as this machine can check it
//! without a container engine: it exposes the server's default ports, runs the binary it
//! copies, and that binary runs as the image's non-root user with a fresh temp directory
//! and no home — starting, listening, and stopping cleanly on its own.

// Test code: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::Command;

use tickwire_server::ConfigLayers;
use tickwire_sim::arena::ArenaConfig;

fn dockerfile() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile"))
        .unwrap()
}

/// The arguments of the runtime stage's `instruction` lines (the last `FROM` on).
fn runtime(instruction: &str) -> Vec<String> {
    let text = dockerfile();
    let stage = text.rsplit("\nFROM ").next().unwrap().to_owned();
    stage
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{instruction} ")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_image_exposes_the_default_ports_and_runs_the_server_as_non_root() {
    let defaults = ConfigLayers::new().load::<ArenaConfig>().unwrap();
    let exposed = runtime("EXPOSE").join(" ");
    assert!(
        exposed.contains(&format!("{}/udp", defaults.server.bind.port())),
        "{exposed}"
    );
    assert!(
        exposed.contains(&format!("{}/tcp", defaults.server.admin.port())),
        "{exposed}"
    );
    let user = runtime("USER");
    let (uid, gid) = user[0].split_once(':').unwrap();
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    assert_ne!(uid, 0, "the runtime user must not be root");
    assert!(runtime("ENTRYPOINT")[0].contains("/usr/local/bin/tickwire-server"));
    assert!(
        runtime("COPY")
            .iter()
            .any(|c| c.ends_with("/usr/local/bin/tickwire-server"))
    );
    // Multi-stage: the runtime image is not the build image.
    assert!(
        dockerfile().matches("\nFROM ").count() + usize::from(dockerfile().starts_with("FROM"))
            >= 2
    );

    // The binary as the image's user: only root can become another user here.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let setpriv = Command::new("setpriv").arg("--help").output().is_ok();
    if !root || !setpriv {
        eprintln!("skipped running as uid {uid}: needs root and setpriv (util-linux)");
        return;
    }
    // A temp directory of its own, as the image's fresh /tmp is.
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        Command::new("chown")
            .arg(format!("{uid}:{gid}"))
            .arg(tmp.path())
            .status()
            .unwrap()
            .success()
    );
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["--bind", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--duration", "1s", "--status-every", "0s"])
        .env_clear()
        .env("TMPDIR", tmp.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("listening on 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("stopped: --duration reached"), "{stderr}");
    // It wrote the development certificate where it may, as that user.
    let cert = tmp.path().join("tickwire-dev-cert.der");
    assert!(cert.exists(), "{stderr}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(cert).unwrap().uid(), uid);
}
