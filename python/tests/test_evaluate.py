"""Python policies in dreamrig evaluations: the same runner, seeds and outputs as Rust policies."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import dreamrig

# Every column of episodes.parquet is a function of the spec; wall time lives in timings.csv.
SPEC = textwrap.dedent(
    """\
    version: 1
    name: parity
    seed: 77
    episodes: {episodes}
    scenarios:
      - scenario: {scenario}
    policies:
    {policies}
    """
)


def spec(tmp_path, scenario: str, policies: str, episodes: int = 6, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(SPEC.format(scenario=scenario, policies=textwrap.indent(textwrap.dedent(policies), "  "), episodes=episodes))
    return path


def episodes(run) -> pd.DataFrame:
    return pd.read_parquet(run / "episodes.parquet")


@pytest.mark.parametrize("scenario", ["cartpole-balance", "reacher-2link", "diffdrive-nav"])
def test_a_python_policy_gives_the_same_episodes_as_the_same_rust_policy(tmp_path, cli, scenario):
    rust = spec(tmp_path, scenario, "- {name: controller, controller: auto}\n- {name: zero, baseline: zero}\n", name="rust.yaml")
    out = cli("eval", rust, "--out", tmp_path / "rust", "--threads", "2")
    assert out.returncode == 0, out.stderr
    # The same controller, called from Python once per batch step with NumPy arrays.
    python = spec(tmp_path, scenario, "- {name: zero, baseline: zero}\n", name="python.yaml")
    rows = dreamrig.evaluate(
        python, tmp_path / "python", policies={"controller": dreamrig.BuiltinPolicy("auto", scenario)}, threads=2, progress=False
    )
    assert {r["policy"] for r in rows} == {"zero", "controller"}
    a = episodes(tmp_path / "rust").sort_values(["policy", "episode"]).reset_index(drop=True)
    b = episodes(tmp_path / "python").sort_values(["policy", "episode"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["success"].any() or scenario == "diffdrive-nav"


def test_a_spec_python_reference_runs_the_callable_and_the_binary_says_where_it_runs(tmp_path, cli, monkeypatch):
    (tmp_path / "my_policies.py").write_text(
        textwrap.dedent(
            """\
            import numpy as np
            calls = []
            class Zero:
                def reset(self, seeds):
                    calls.append(("reset", len(seeds)))
                def __call__(self, observation):
                    b = len(observation["joint_state.position"])
                    calls.append(("act", b))
                    return np.zeros((b, 1), dtype=np.float32)
            zero = Zero()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rust = spec(tmp_path, "cartpole-balance", "- {name: zero, baseline: zero}\n", episodes=70, name="rust.yaml")
    python = spec(tmp_path, "cartpole-balance", "- {name: zero, python: 'my_policies:zero'}\n", episodes=70, name="python.yaml")
    assert cli("eval", rust, "--out", tmp_path / "rust").returncode == 0
    dreamrig.evaluate(python, tmp_path / "python", threads=1, progress=False)
    pd.testing.assert_frame_equal(episodes(tmp_path / "rust"), episodes(tmp_path / "python"), check_exact=True)
    import my_policies

    # 70 episodes run as lock-step batches of 64 and 6: one call per batch step, not per episode step.
    resets = [b for kind, b in my_policies.calls if kind == "reset"]
    acts = [b for kind, b in my_policies.calls if kind == "act"]
    assert sorted(resets) == [6, 64]
    steps = episodes(tmp_path / "rust").groupby(np.arange(70) // 64)["length"].max().sum()
    assert len(acts) == steps

    out = cli("eval", python, "--out", tmp_path / "cli")
    assert out.returncode == 2
    assert "runs only inside Python" in out.stderr and "python -m dreamrig eval" in out.stderr


def test_python_m_dreamrig_eval_runs_a_spec_with_python_policies(tmp_path):
    (tmp_path / "pm.py").write_text("import numpy as np\ndef zero(o):\n    return np.zeros((len(o['joint_state.position']), 1))\n")
    python = spec(tmp_path, "cartpole-balance", "- {name: zero, python: 'pm:zero'}\n", episodes=3)
    done = subprocess.run(
        [sys.executable, "-m", "dreamrig", "eval", str(python), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "cartpole-balance" in done.stdout and (tmp_path / "run" / "report.html").is_file()


def test_the_vector_env_reproduces_the_episodes_of_dreamrig_eval(tmp_path, cli):
    scenario, n = "reacher-2link", 6
    rust = spec(tmp_path, scenario, "- {name: controller, controller: auto}\n", episodes=n)
    assert cli("eval", rust, "--out", tmp_path / "rust").returncode == 0
    expected = episodes(tmp_path / "rust")
    seeds = [dreamrig.episode_seed(77, scenario, k) for k in range(n)]
    assert seeds == list(expected["seed"].astype("uint64"))
    envs = dreamrig.make_vec(scenario, num_envs=n)
    policy = dreamrig.BuiltinPolicy("auto", scenario)
    obs, _ = envs.reset(seed=seeds)
    policy.reset(seeds)
    returns, lengths, success = np.zeros(n), np.zeros(n, int), np.zeros(n, bool)
    done = np.zeros(n, bool)
    while not done.all():
        obs, reward, terminated, truncated, info = envs.step(policy(obs))
        live = ~done
        returns[live] += reward[live]
        lengths[live] += 1
        success[live] |= info["success"][live]
        done |= terminated | truncated
    assert list(lengths) == list(expected["length"])
    assert list(returns) == list(expected["return"])
    assert list(success) == list(expected["success"])


def test_a_failing_python_policy_fails_its_episodes_with_the_python_error(tmp_path):
    def broken(observation):
        raise RuntimeError("the network is not trained")

    run = tmp_path / "run"
    dreamrig.evaluate(spec(tmp_path, "cartpole-balance", "- {name: zero, baseline: zero}\n", episodes=2), run, policies={"broken": broken}, progress=False)
    table = episodes(run)
    failed = table[table["policy"] == "broken"]
    assert list(failed["end_reason"]) == ["error", "error"]
    assert all("RuntimeError: the network is not trained" in d for d in failed["end_detail"])


def test_evaluation_errors_carry_the_cli_text(tmp_path, cli):
    bad = spec(tmp_path, "cartpole-balance", "- {name: zero, baseline: nothing}\n")
    out = cli("eval", bad, "--out", tmp_path / "cli")
    with pytest.raises(dreamrig.EvaluationError) as error:
        dreamrig.evaluate(bad, tmp_path / "py", progress=False)
    assert out.returncode == 2 and out.stderr.strip() == f"error: {error.value}"
    with pytest.raises(dreamrig.EvaluationError, match="already has a policy of that name"):
        dreamrig.evaluate(spec(tmp_path, "cartpole-balance", "- {name: zero, baseline: zero}\n"), tmp_path / "py2", policies={"zero": print})


def test_a_dataset_folder_that_exists_is_refused_before_any_episode_runs(tmp_path, cli):
    existing = tmp_path / "data" / "cartpole-balance"
    existing.mkdir(parents=True)
    path = spec(tmp_path, "cartpole-balance", "- {name: zero, baseline: zero}\n", episodes=2)
    out = cli("eval", path, "--out", tmp_path / "cli", "--record-dataset", tmp_path / "data")
    with pytest.raises(dreamrig.EvaluationError, match="already exists; choose another folder"):
        dreamrig.evaluate(path, tmp_path / "py", record_dataset=tmp_path / "data", progress=False)
    assert out.returncode == 2 and "already exists; choose another folder" in out.stderr
    assert not (tmp_path / "py" / "episodes.parquet").exists() and not (tmp_path / "cli" / "episodes.parquet").exists()
