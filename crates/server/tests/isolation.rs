//! Property test: random operations by several workspaces never let one
//! workspace see or change another's data.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Client, TestServer};
use proptest::prelude::*;
use serde_json::json;

const WORKSPACES: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    CreateThread,
    AddMessage(usize),
    Rename(usize),
    Archive(usize),
    Delete(usize),
    Get(usize),
    ListMessages(usize),
    ListThreads,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::CreateThread),
        3 => any::<usize>().prop_map(Op::AddMessage),
        1 => any::<usize>().prop_map(Op::Rename),
        1 => any::<usize>().prop_map(Op::Archive),
        1 => any::<usize>().prop_map(Op::Delete),
        2 => any::<usize>().prop_map(Op::Get),
        2 => any::<usize>().prop_map(Op::ListMessages),
        2 => Just(Op::ListThreads),
    ]
}

/// What the model expects of one thread.
struct ModelThread {
    owner: usize,
    alive: bool,
    archived: bool,
    messages: usize,
}

async fn run_case(server: &TestServer, case: usize, ops: Vec<(usize, Op)>) {
    let clients: Vec<Client> = (0..WORKSPACES).map(|w| server.workspace(&format!("case{case}-ws{w}"))).collect();
    let mut threads: Vec<(String, ModelThread)> = Vec::new();
    for (actor, op) in ops {
        let client = &clients[actor];
        let pick = |i: usize| (!threads.is_empty()).then(|| i % threads.len());
        match op {
            Op::CreateThread => {
                let id = client.new_thread().await;
                threads.push((id, ModelThread { owner: actor, alive: true, archived: false, messages: 0 }));
            }
            Op::AddMessage(i) | Op::Rename(i) | Op::Archive(i) | Op::Delete(i) | Op::Get(i) | Op::ListMessages(i) => {
                let Some(index) = pick(i) else { continue };
                let (id, model) = &mut threads[index];
                let visible = model.alive && model.owner == actor;
                let reply = match op {
                    Op::AddMessage(_) => client
                        .post(
                            &format!("/v1/threads/{id}/messages"),
                            json!({"parent_id": null, "format": "aui/v0", "content": {"role": "user", "content": []}}),
                        )
                        .await,
                    Op::Rename(_) => {
                        client.put(&format!("/v1/threads/{id}"), json!({"title": format!("by {actor}")})).await
                    }
                    Op::Archive(_) => client.put(&format!("/v1/threads/{id}"), json!({"is_archived": true})).await,
                    Op::Delete(_) => client.delete(&format!("/v1/threads/{id}"), None).await,
                    Op::Get(_) => client.get(&format!("/v1/threads/{id}")).await,
                    _ => client.get(&format!("/v1/threads/{id}/messages")).await,
                };
                if let Op::ListMessages(_) = op {
                    let listed = reply.expect(200)["messages"].as_array().map_or(0, Vec::len);
                    assert_eq!(listed, if visible { model.messages } else { 0 }, "messages of {id} seen by ws{actor}");
                    continue;
                }
                if visible {
                    assert!(reply.status.is_success(), "{op:?} by owner ws{actor}: {}", reply.text);
                    match op {
                        Op::AddMessage(_) => model.messages += 1,
                        Op::Archive(_) => model.archived = true,
                        Op::Delete(_) => model.alive = false,
                        _ => {}
                    }
                    if let Op::Get(_) = op {
                        assert_eq!(reply.json["thread"]["workspace_id"], format!("case{case}-ws{actor}"));
                    }
                } else {
                    reply.expect_error(404, "thread_not_found");
                }
            }
            Op::ListThreads => {
                let mut listed = BTreeSet::new();
                for archived in ["false", "true"] {
                    listed.extend(client.thread_ids(&format!("?limit=100&is_archived={archived}")).await);
                }
                let expected: BTreeSet<String> =
                    threads.iter().filter(|(_, m)| m.alive && m.owner == actor).map(|(id, _)| id.clone()).collect();
                assert_eq!(listed, expected, "threads listed for ws{actor}");
            }
        }
    }
    // Project-wide reads (API keys) see every live thread of the case, whoever owns it.
    let owners: HashMap<&str, usize> =
        threads.iter().filter(|(_, m)| m.alive).map(|(id, m)| (id.as_str(), m.owner)).collect();
    for (id, owner) in owners {
        let reply = clients[(owner + 1) % WORKSPACES].get(&format!("/v1/projects/threads/{id}/messages")).await;
        reply.expect(200);
    }
}

#[test]
fn workspaces_never_see_each_other() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestServer::start());
    let case = AtomicUsize::new(0);
    let config = ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(ops in prop::collection::vec((0..WORKSPACES, op()), 1..40))| {
        let case = case.fetch_add(1, Ordering::Relaxed);
        runtime.block_on(run_case(&server, case, ops));
    });
}
