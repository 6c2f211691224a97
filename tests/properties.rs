//! Properties that must hold for every input.

mod common;

use dreamrig_sim::{PhysicsWorld, Scenario, World};
use proptest::prelude::*;

const VALID: &str = include_str!("../scenarios/reacher-2link.yaml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// No byte string makes the scenario parser panic.
    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Scenario::from_bytes(&bytes, &common::shipped("reacher-2link"));
    }

    /// Nor does a valid file with one byte changed or a line cut short: the error (if any)
    /// names the file.
    #[test]
    fn a_damaged_valid_file_gives_an_error_not_a_panic(position in 0..VALID.len(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = VALID.as_bytes().to_vec();
        if cut { bytes.truncate(position) } else { bytes[position] = byte }
        if let Err(errors) = Scenario::from_bytes(&bytes, &common::shipped("reacher-2link")) {
            prop_assert!(errors.to_string().contains("reacher-2link.yaml"));
        }
    }

    /// Writing any finite state and reading it back gives it back exactly.
    #[test]
    fn state_round_trips_exactly(q in proptest::collection::vec(-3.0f32..3.0, 2), v in proptest::collection::vec(-5.0f32..5.0, 2)) {
        let scenario = Scenario::load(&common::shipped("reacher-2link")).unwrap();
        let mut world = PhysicsWorld::new(scenario.config);
        world.reset(0).unwrap();
        let mut state = world.state().unwrap();
        state.values = q.iter().chain(&v).map(|x| *x as f64).collect();
        world.set_state(&state).unwrap();
        prop_assert_eq!(world.state().unwrap(), state);
    }
}
