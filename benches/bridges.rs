//! The ROS 2 bridge's cost per control step, in process: encoding a step's topics to CDR
//! (`TopicMapper::messages`), and publishing them over Zenoh on loopback to a subscriber
//! (rmw_zenoh keys and attachments) until it has received them. `cargo bench --bench bridges`.
//! End-to-end figures against a Python subscriber: `scripts/bench-bridges.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dreamrig_bridges::ros2::topics::TopicMapper;
use dreamrig_bridges::zenoh::{NodeOptions, Qos, RosNode};
use dreamrig_policies::remote::{open_session, ZenohConnection};
use dreamrig_sim::{PhysicsWorld, Scenario, World};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zenoh::Wait;

fn scenario(path: &str) -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("ros2_topics_per_step");
    for path in ["scenarios/cartpole-balance.yaml", "scenarios/diffdrive-nav.yaml", "tests/fixtures/serve-diffbot.yaml"] {
        let scenario = scenario(path);
        let mut world = PhysicsWorld::new(scenario.config.clone());
        let (observation, _) = world.reset(1).unwrap();
        let mapper = TopicMapper::new(&scenario.config);
        let poses = world.link_poses();
        let state = world.state().unwrap();
        let bytes: usize = mapper.messages(&observation, &poses, Some(&state), 1.0, None).iter().map(|m| m.cdr.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(BenchmarkId::new("encode", &scenario.config.name), |b| {
            b.iter(|| mapper.messages(&observation, &world.link_poses(), Some(&state), 1.0, None))
        });
    }
    group.finish();
}

fn publishing(c: &mut Criterion) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp/127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let (router, _) = open_session(&ZenohConnection::Router(endpoint.clone())).unwrap();
    let (peer, _) = open_session(&ZenohConnection::Router(endpoint)).unwrap();
    let mut node = RosNode::new(Arc::new(router), NodeOptions::default()).unwrap();
    let scenario = scenario("scenarios/cartpole-balance.yaml");
    let mut world = PhysicsWorld::new(scenario.config.clone());
    let (observation, _) = world.reset(1).unwrap();
    let message = TopicMapper::new(&scenario.config)
        .messages(&observation, &world.link_poses(), None, 1.0, None)
        .into_iter()
        .find(|m| m.topic == "/joint_states")
        .unwrap();
    let mut publisher = node.publisher("/joint_states", message.type_name, Qos::DEFAULT).unwrap();
    let subscriber = peer.declare_subscriber(publisher.key.clone()).wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut group = c.benchmark_group("zenoh_loopback");
    group.throughput(Throughput::Elements(1));
    group.bench_function("joint_states_publish_and_receive", |b| {
        b.iter(|| {
            publisher.publish(&message.cdr).unwrap();
            subscriber.recv_timeout(Duration::from_secs(5)).unwrap().expect("the sample arrives")
        })
    });
    group.finish();
}

criterion_group!(benches, encoding, publishing);
criterion_main!(benches);
