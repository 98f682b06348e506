//! A real Ctrl-C: SIGINT sent to a running `train` process ends it after the current step with
//! a checkpoint of the cut-short epoch and exit status 130 (stopped, not finished);
//! `train --weights` on that
//! checkpoint then ends bitwise where an uninterrupted run does (Unix only).
#![cfg(unix)]

mod common;

use common::assert_same_checkpoints;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use voxflow::data::phantom::{PhantomConfig, write_dataset};

#[test]
fn sigint_checkpoints_after_the_current_step_and_exits_cleanly() {
    let tmp = common::TempDir::absent("sigint").keep();
    let data = tmp.join("data");
    let cfg = PhantomConfig {
        n: 8,
        seed: 3,
        subsets: 1,
        grid_scale: 0.25,
        phases: 1,
    };
    write_dataset(&data, &cfg).unwrap();
    let root = tmp.join("sessions");
    let mut child = Command::new(env!("CARGO_BIN_EXE_train"))
        .args([
            "--session",
            "s",
            "--builder",
            "unet",
            "--gen",
            "atlas",
            "--shape",
            "8",
        ])
        .args([
            "--epochs",
            "200",
            "--steps-per-epoch",
            "50",
            "--device",
            "cpu",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--sessions-dir")
        .arg(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Wait until training steps are being reported, then press Ctrl-C.
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("train printed no step line in time");
        if line.starts_with("epoch 1/200 step") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no step line");
    }
    // While it trains, the session's lock names it.
    let paths = voxflow::session::SessionPaths::new(&root, "s").unwrap();
    let holder = voxflow::session::lock::lock_holder(&paths).flatten();
    assert_eq!(
        holder.map(|h| (h.pid, h.command)),
        Some((child.id(), "train".to_string()))
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("train did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "exit status {status:?}");
    let said: Vec<String> = rx.iter().collect();
    assert!(
        said.iter()
            .any(|l| l.starts_with("done: stopped in epoch ")),
        "{said:?}"
    );
    // The epoch the signal cut short has its checkpoint, and nothing after it ran.
    let log = std::fs::read_to_string(root.join("s/logs.txt")).unwrap();
    let epoch: u32 = log
        .split("interrupted: epoch ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no interruption logged:\n{log}"));
    assert!(epoch < 200);
    let ckpt = |e: u32| root.join(format!("s/checkpoints/chkpt_{e:02}.safetensors"));
    assert!(
        ckpt(epoch).is_file(),
        "no checkpoint of the interrupted epoch {epoch}"
    );
    assert!(
        !ckpt(epoch + 1).exists(),
        "training went on after the interrupt"
    );
    assert_eq!(
        voxflow::session::lock::lock_holder(&paths),
        None,
        "the stopped run released the session"
    );
    // Wherever the signal landed: resume to the end of the next epoch, and compare with a
    // session trained that far without interruption.
    let until = (epoch + 1).to_string();
    let name = format!("chkpt_{epoch:02}.safetensors");
    let resumed = train_cli(&data, &root, "s", &["--epochs", &until, "--weights", &name]);
    assert!(resumed.status.success(), "{resumed:?}");
    let straight = train_cli(&data, &root, "straight", &["--epochs", &until]);
    assert!(straight.status.success(), "{straight:?}");
    let last = |s: &str| root.join(format!("{s}/checkpoints/chkpt_{until:0>2}.safetensors"));
    let what = format!("resumed from the interrupted epoch {epoch}");
    assert_same_checkpoints(&last("s"), &last("straight"), &what);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Runs the `train` binary on session `name` (U-Net, atlas, 8³, 50 steps per epoch on the CPU)
/// with `extra` flags, to completion.
fn train_cli(data: &Path, root: &Path, name: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(["--session", name, "--builder", "unet", "--gen", "atlas"])
        .args(["--shape", "8", "--steps-per-epoch", "50", "--device", "cpu"])
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .arg("--sessions-dir")
        .arg(root)
        .output()
        .unwrap()
}
