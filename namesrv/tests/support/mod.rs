//! Test helpers: hand-built protocol frames over raw TCP, polling with deadlines, and a
//! child-process harness for the real `mqnamesrv` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use mq_test_support::{wait_until, wait_until_blocking};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The hand-written REGISTER_BROKER request header of spec §5.2, as a Java broker sends it.
pub fn register_header_json(opaque: i32, name: &str, addr: &str, id: i64, crc: i32) -> String {
    format!(
        r#"{{"code":103,"extFields":{{"bodyCrc32":"{crc}","brokerAddr":"{addr}","brokerId":"{id}","brokerName":"{name}","clusterName":"DefaultCluster","compressed":"false","haServerAddr":"{addr}"}},"flag":0,"language":"JAVA","opaque":{opaque},"serializeTypeCurrentRPC":"JSON","version":401}}"#
    )
}

/// A RegisterBrokerBody (spec §5.2) with one topic of 4 queues, as fastjson writes it.
pub fn register_body_json(topic: &str, counter: i64) -> String {
    format!(
        r#"{{"filterServerList":[],"topicConfigSerializeWrapper":{{"dataVersion":{{"counter":{counter},"timestamp":1700000000000}},"topicConfigTable":{{"{topic}":{{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"{topic}","topicSysFlag":0,"writeQueueNums":4}}}}}}}}"#
    )
}

/// GET_ROUTEINFO_BY_TOPIC header, by hand.
pub fn route_header_json(opaque: i32, topic: &str) -> String {
    format!(
        r#"{{"code":105,"extFields":{{"topic":"{topic}"}},"flag":0,"language":"JAVA","opaque":{opaque},"serializeTypeCurrentRPC":"JSON","version":401}}"#
    )
}

/// Frame bytes (spec §1.1): `[i32 length][i32 type<<24|headerLen][header][body]`, big-endian,
/// JSON serialize type (0).
pub fn raw_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let h = header.as_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + h.len() + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(h.len() as i32).to_be_bytes());
    out.extend_from_slice(h);
    out.extend_from_slice(body);
    out
}

/// Read one frame; returns the parsed JSON header and the body.
pub async fn read_frame(s: &mut TcpStream) -> (serde_json::Value, Vec<u8>) {
    let fut = async {
        let len = s.read_i32().await.expect("frame length") as usize;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).await.expect("frame");
        let w = i32::from_be_bytes(buf[0..4].try_into().unwrap());
        assert_eq!(w >> 24, 0, "responses are JSON headers");
        let hlen = (w & 0xFF_FFFF) as usize;
        let header: serde_json::Value =
            serde_json::from_slice(&buf[4..4 + hlen]).expect("strict JSON header");
        (header, buf[4 + hlen..].to_vec())
    };
    tokio::time::timeout(Duration::from_secs(10), fut).await.expect("response within 10 s")
}

/// Write a frame and read the response.
pub async fn call_raw(
    s: &mut TcpStream,
    header: &str,
    body: &[u8],
) -> (serde_json::Value, Vec<u8>) {
    s.write_all(&raw_frame(header, body)).await.unwrap();
    read_frame(s).await
}

/// Whether the server closed `s` (read returns EOF or reset) within 10 s.
pub async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A running `mqnamesrv` child process; killed (by PID) on drop.
pub struct NamesrvProcess {
    pub child: Child,
    pub addr: String,
    stderr_log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl NamesrvProcess {
    /// Start the binary with `args` (add `--listen 127.0.0.1:0`) and wait for its boot line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// [`NamesrvProcess::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mqnamesrv"))
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mqnamesrv");
        let stderr_log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = stderr_log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
        // Logs go to stdout (the container convention) next to the boot line.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = stderr_log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("boot success") {
                    let _ = tx.send(line.clone());
                }
                log.lock().unwrap().push(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mqnamesrv did not boot; stderr: {:?}", stderr_log.lock().unwrap());
            }
        };
        let addr = line.rsplit(' ').next().unwrap().to_string();
        assert!(line.contains("boot success"), "unexpected first line: {line}");
        NamesrvProcess { child, addr, stderr_log }
    }

    /// Lines the process logged so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.stderr_log.lock().unwrap().clone()
    }

    /// Wait (up to 10 s) for a log line containing `needle`; panics naming it otherwise.
    pub fn wait_log(&self, needle: &str) {
        wait_until_blocking(&format!("a log line with {needle:?}"), Duration::from_secs(10), || {
            self.logs().iter().any(|l| l.contains(needle))
        })
    }

    /// Send SIGTERM and wait (bounded) for exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        wait_until_blocking("mqnamesrv to exit after SIGTERM", Duration::from_secs(15), || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for NamesrvProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
