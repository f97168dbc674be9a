//! Many requests in flight on one connection (what benchmark producers do) all get answers.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_pipelined_sends_are_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Pipe", 4).await;
    for round in 0..4 {
        let mut pending = Vec::new();
        for i in 0..512 {
            let client = b.client.clone();
            let addr = b.addr.clone();
            pending.push(tokio::spawn(async move {
                client
                    .invoke(
                        &addr,
                        send_v2(
                            &send_header("Pipe", i % 4, "t", &format!("k{round}-{i}")),
                            &[7u8; 128],
                        ),
                        T,
                    )
                    .await
            }));
        }
        for p in pending {
            let r = p.await.unwrap().expect("answered");
            assert_eq!(r.code, 0, "{:?}", r.remark);
        }
    }
    b.shutdown().await;
}
