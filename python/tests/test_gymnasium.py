"""The Gymnasium environments: the API checker, seeds, vector against single, state branching,
world-model backends and errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dreamrig

SHIPPED = dreamrig.scenarios()


def rollout(env, seed: int, steps: int, action_seed: int = 0):
    """Observations (as bytes), rewards and flags of `steps` random-action steps from reset(seed)."""
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    trace = [b"".join(obs[k].tobytes() for k in sorted(obs))]
    for _ in range(steps):
        action = rng.uniform(env.action_space.low, env.action_space.high)
        obs, reward, terminated, truncated, _ = env.step(action)
        trace.append(b"".join(obs[k].tobytes() for k in sorted(obs)) + np.float64(reward).tobytes() + bytes([terminated, truncated]))
        if terminated or truncated:
            break
    return trace


def test_every_shipped_scenario_is_registered_and_passes_the_gymnasium_env_checker():
    assert {"arm7-reach", "cartpole-balance", "diffdrive-nav", "pusher", "reacher-2link"} <= set(SHIPPED)
    for name in SHIPPED:
        env = gym.make(f"dreamrig/{name}")
        with warnings.catch_warnings():
            # The checker's advice (normalize Box ranges, avoid infinite bounds) is not an error:
            # the spaces are the scenario's physical ranges.
            warnings.simplefilter("ignore", UserWarning)
            check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=3)
        assert env.observation_space.contains(obs), name
        assert set(info) >= {"time", "step", "success", "collision"}
        env.close()
    envs = gym.make_vec("dreamrig/cartpole-balance", num_envs=3)
    assert isinstance(envs.unwrapped, dreamrig.DreamrigVectorEnv) and envs.num_envs == 3


def test_the_same_seed_gives_the_same_episode_bit_for_bit_and_another_seed_another():
    for name in ["cartpole-balance", "diffdrive-nav", "pusher"]:
        a, b = dreamrig.make(name), dreamrig.make(name)
        assert rollout(a, 11, 40) == rollout(b, 11, 40), name
        assert rollout(a, 11, 40) != rollout(a, 12, 40), name


def test_reset_without_a_seed_continues_the_generator_of_the_first_seed():
    a, b = dreamrig.make("reacher-2link"), dreamrig.make("reacher-2link")
    a.reset(seed=5)
    b.reset(seed=5)
    first_a, _ = a.reset()
    first_b, _ = b.reset()
    assert all(np.array_equal(first_a[k], first_b[k]) for k in first_a)
    assert a.unwrapped.episode_seed == b.unwrapped.episode_seed


def test_a_vector_env_equals_single_envs_with_the_same_seeds_across_autoresets():
    seeds = [101, 202, 303, 404]
    vec = dreamrig.make_vec("cartpole-balance", num_envs=len(seeds))
    singles = [dreamrig.make("cartpole-balance") for _ in seeds]
    obs, _ = vec.reset(seed=seeds)
    single_obs = [env.reset(seed=s)[0] for env, s in zip(singles, seeds)]
    rng = np.random.default_rng(0)
    pending_reset = [False] * len(seeds)
    ended = 0
    for _ in range(300):
        # Large pushes make cart-poles fall, so episodes end and autoreset within the loop.
        actions = rng.uniform(-20, 20, size=(len(seeds), 1))
        obs, reward, terminated, truncated, _ = vec.step(actions)
        for i, env in enumerate(singles):
            if pending_reset[i]:
                # Gymnasium's next-step autoreset: the vector env reset this world with the next
                # seed of its own generator; the single env does the same by hand.
                single_obs[i], _ = env.reset(seed=vec.episode_seeds[i])
                r, term, trunc = 0.0, False, False
            else:
                single_obs[i], r, term, trunc, _ = env.step(actions[i])
            assert all(np.array_equal(obs[k][i], single_obs[i][k]) for k in obs), (i, k)
            assert (reward[i], terminated[i], truncated[i]) == (r, term, trunc)
            pending_reset[i] = term or trunc
            ended += int(term or trunc)
    assert ended >= len(seeds), "episodes ended and were reset during the test"
    assert vec.observation_space.contains(obs)


def test_set_state_branches_an_episode_and_replays_its_original_steps_bit_for_bit():
    # diffdrive-nav has sensor noise (IMU, odometry, lidar): the noise stream is part of the state.
    env = dreamrig.make("diffdrive-nav").unwrapped
    env.reset(seed=8)
    rng = np.random.default_rng(1)
    for _ in range(10):
        env.step(rng.uniform(env.action_space.low, env.action_space.high))
    state = env.get_state()
    assert state.step == 10 and len(state.values) == len(state.names)
    plan = rng.uniform(env.action_space.low, env.action_space.high, size=(25, 2))

    def steps(actions):
        out = []
        for a in actions:
            obs, reward, *_ = env.step(a)
            # The 10 Hz lidar holds its reading between updates, and that held reading is not
            # part of the state (docs/python.md): it is compared from its next update on.
            fields = [k for k in sorted(obs) if k != "lidar.ranges" or env.get_state().step % 2 == 0]
            out.append(b"".join(obs[k].tobytes() for k in fields) + np.float64(reward).tobytes() + env.get_state().values.tobytes())
        return out

    original = steps(plan)
    env.set_state(state)
    assert steps(plan) == original
    env.set_state(state)
    assert steps(plan[::-1]) != original


def test_observations_stay_in_the_observation_space_and_a_bad_action_moves_no_world():
    for name in ["reacher-2link", "diffdrive-nav", "arm7-reach"]:
        envs = dreamrig.make_vec(name, num_envs=4)
        envs.action_space.seed(4)  # with seed 4, diffdrive's quaternions pass 1 by 1.4e-5 within 150 steps
        obs, _ = envs.reset(seed=0)
        for _ in range(150):
            obs, *_ = envs.step(envs.action_space.sample())
            assert envs.observation_space.contains(obs), name
    envs = dreamrig.make_vec("cartpole-balance", num_envs=2)
    envs.reset(seed=0)
    _, _, _, _, before = envs.step(np.zeros((2, 1)))
    with pytest.raises(dreamrig.SimulationError, match="env 1: action value 0"):
        envs.step(np.array([[0.0], [np.inf]]))
    _, _, _, _, after = envs.step(np.zeros((2, 1)))
    assert list(after["step"]) == [s + 1 for s in before["step"]]
    assert isinstance(after["end_reason"], np.ndarray)
    gym.wrappers.vector.DictInfoToList(dreamrig.make_vec("cartpole-balance", num_envs=2)).reset(seed=0)


def test_a_state_of_another_scenario_is_refused():
    cartpole, reacher = dreamrig.make("cartpole-balance").unwrapped, dreamrig.make("reacher-2link").unwrapped
    cartpole.reset(seed=0)
    reacher.reset(seed=0)
    with pytest.raises(ValueError, match="taken from a world of scenario cartpole-balance"):
        reacher.set_state(cartpole.get_state())


def test_a_hybrid_world_model_is_a_backend(hybrid_model):
    physics = dreamrig.make("cartpole-balance")
    hybrid = dreamrig.make("cartpole-balance", dynamics=f"hybrid:{hybrid_model}")
    assert hybrid.unwrapped.worlds.dynamics == "hybrid"
    assert rollout(hybrid, 4, 30) == rollout(hybrid, 4, 30)
    _, _, _, _, info = hybrid.step(np.zeros(1))
    assert np.isfinite(info["model_disagreement"])
    assert rollout(hybrid, 4, 30) != rollout(physics, 4, 30)


def test_bad_arguments_raise_python_exceptions_with_the_cli_texts(cli, tmp_path):
    with pytest.raises(dreamrig.ScenarioError) as missing:
        dreamrig.make("no-such-scenario")
    out = cli("run", "no-such-scenario")
    assert out.returncode == 2 and out.stderr.strip() == f"error: {missing.value}"

    bad = tmp_path / "bad.yaml"
    shipped = Path(dict(dreamrig._dreamrig.scenarios())["cartpole-balance"]).resolve()
    text = shipped.read_text().replace("urdf: robots/", f"urdf: {shipped.parent}/robots/")
    bad.write_text(text.replace("horizon_steps: ", "horizon_steps: -"))
    with pytest.raises(dreamrig.ScenarioError) as invalid:
        dreamrig.make(bad)
    out = cli("run", bad)
    assert out.returncode == 2 and out.stderr.strip() == f"error: {invalid.value}"
    assert "horizon_steps" in str(invalid.value)

    env = dreamrig.make("cartpole-balance")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action: expected shape \(1,\)"):
        env.step(np.zeros(3))
    with pytest.raises(dreamrig.SimulationError, match=r"slider.effort\) is NaN; actions must be finite"):
        env.step(np.array([np.nan]))
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=-1)
    with pytest.raises(ValueError, match="dynamics"):
        dreamrig.make("cartpole-balance", dynamics="quantum")
    with pytest.raises(ValueError, match="num_envs"):
        dreamrig.make_vec("cartpole-balance", 0)


def test_a_rust_panic_becomes_a_dreamrig_error_not_a_crash():
    with pytest.raises(dreamrig.DreamrigError, match="internal error in dreamrig"):
        dreamrig._dreamrig._test_panic()


def test_a_step_computed_elsewhere_is_scored_as_the_world_scores_its_own():
    own, scored = dreamrig.Worlds("reacher-2link"), dreamrig.Worlds("reacher-2link")
    own.reset([3])
    scored.reset([3])
    rng = np.random.default_rng(0)
    spec = own.action_spec()
    for _ in range(30):
        action = rng.uniform(spec["low"], spec["high"])
        observation, reward, terminated, truncated, info = own.step(action[None])
        next_state = own.state_values()[0]
        got = scored.step_to(action, next_state)
        for field in observation:
            np.testing.assert_array_equal(got[0][field], observation[field][0])
        assert (got[1], got[2], got[3]) == (reward[0], terminated[0], truncated[0])
        assert got[4]["success"] == info["success"][0] and got[4]["step"] == info["step"][0]
    # Lengths are checked as `step` checks them.
    with pytest.raises(ValueError, match="next: expected 4 values"):
        scored.step_to(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="action: expected 2 values"):
        scored.step_to(np.zeros(3), np.zeros(4))


def test_the_task_scores_the_state_another_engine_reached_not_its_own_physics():
    worlds = dreamrig.Worlds("cartpole-balance")
    worlds.reset([2])
    names = worlds.state_names
    hinge = names.index("robot.joint.hinge.position")
    tilted = worlds.state_values()[0].copy()
    tilted[hinge] = 0.1
    observation, _, terminated, _, info = worlds.step_to(np.zeros(1), tilted)
    assert observation["joint_state.position"][hinge] == pytest.approx(0.1) and not terminated
    tilted[hinge] = 0.3  # beyond the task's ±0.21 rad failure bound
    _, _, terminated, _, info = worlds.step_to(np.zeros(1), tilted)
    assert terminated and not info["success"] and "hinge" in info["end_reason"]


def test_a_world_model_cannot_be_moved_by_another_engine(hybrid_model):
    worlds = dreamrig.Worlds("cartpole-balance", dynamics=f"hybrid:{hybrid_model}")
    worlds.reset([0])
    with pytest.raises(dreamrig.SimulationError, match="only physics worlds"):
        worlds.step_to(np.zeros(1), worlds.state_values()[0])


def test_rank_agreement_is_what_wm_compare_reports():
    same = dreamrig.rank_agreement([1.0, 0.5, 0.0], [0.9, 0.4, 0.1])
    assert same["spearman"] == pytest.approx(1.0) and same["mmrv"] == 0.0
    swapped = dreamrig.rank_agreement([1.0, 0.5, 0.0], [0.4, 0.9, 0.1])
    # Policy 0 and 1 swap: each's largest violated gap is 0.5, policy 2's none.
    assert swapped["mmrv"] == pytest.approx(1.0 / 3.0)
    with pytest.raises(ValueError, match="one per policy"):
        dreamrig.rank_agreement([1.0], [1.0, 0.0])


def test_camera_images_are_observations_with_their_shape_and_dtype():
    env = dreamrig.make("pusher-camera")
    space = env.observation_space["top.rgb"]
    assert space.shape == (64, 64, 3) and space.dtype == np.uint8
    first, _ = env.reset(seed=1)
    assert env.observation_space.contains(first)
    assert first["top.rgb"].shape == (64, 64, 3) and first["top.rgb"].dtype == np.uint8
    # The red box is in view: some pixels are much redder than green and blue.
    rgb = first["top.rgb"].astype(int)
    assert ((rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2])) > 80).sum() > 4
    other, _ = env.reset(seed=2)
    assert not np.array_equal(first["top.rgb"], other["top.rgb"]), "another seed puts the box elsewhere"
    (image,) = dreamrig.Worlds("pusher-camera").observation_images()
    assert image["name"] == "top.rgb" and image["encoding"] == "rgb8" and len(image["intrinsics"]) == 4
