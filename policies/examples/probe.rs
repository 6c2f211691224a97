use dreamrig_policies::zoo::by_name;
use dreamrig_sim::{PhysicsWorld, Scenario, World};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scenario = Scenario::load(args[1].as_ref()).unwrap();
    let mut world = PhysicsWorld::new(scenario.config.clone());
    let mut policy = by_name("auto", &scenario.config, world.observation_spec(), world.action_spec()).unwrap();
    let seed: u64 = args[2].parse().unwrap();
    let (mut obs, _) = world.reset(seed).unwrap();
    policy.reset(seed);
    for step in 0..1000 {
        let a = policy.act(&obs).unwrap();
        let r = world.step(&a).unwrap();
        if step % 20 == 0 || r.terminated || r.truncated {
            let t = r.observation.get("task.tracked_position").unwrap().to_vec();
            let g = r.observation.get("task.goal").unwrap().to_vec();
            println!("{step}: action {:?} tracked {:?} goal {:?} dist {:?} clear {:?} {:?}", a.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>(), t, g, r.info.goal_distance, r.info.clearance, r.info.end_reason);
        }
        obs = r.observation;
        if r.terminated || r.truncated { break; }
    }
}
