"""Type stubs of the Rust extension module `dreamrig._dreamrig` (python/src/lib.rs)."""

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

class DreamrigError(Exception):
    """Base class of every error dreamrig raises; a Rust panic is raised as this class."""

class ScenarioError(DreamrigError):
    """A scenario that cannot be found, read or validated (the text `dreamrig validate` prints)."""

class SimulationError(DreamrigError):
    """A world that cannot step: an invalid action or state, diverging physics, a model failure."""

class PolicyError(DreamrigError):
    """A policy that cannot be built, checked or run."""

class EvaluationError(DreamrigError):
    """An evaluation spec or run that fails (the text `dreamrig eval` prints)."""

Observation = dict[str, npt.NDArray[np.float32]]
"""`{field name: array}`: shape [B, *field_shape] from `Worlds`, [*field_shape] for one world."""

class WorldState:
    """A snapshot of one world's episode (`Worlds.get_state`), to branch from with `set_state`."""

    @property
    def values(self) -> npt.NDArray[np.float64]:
        """The full dynamic state, [len(names)]: every position (m, rad), then every velocity."""
    @property
    def names(self) -> list[str]: ...
    @property
    def step(self) -> int:
        """Control steps since reset."""
    @property
    def scenario(self) -> str: ...
    def with_values(self, values: npt.ArrayLike) -> WorldState:
        """The same snapshot (step, delayed actions, noise) with other values, [len(names)] float64."""

class Worlds:
    """B worlds of one scenario, stepped together in Rust (in parallel, without the GIL).

    `scenario`: a file or a shipped name; `dynamics`: `physics`, `learned:MODEL.json` or
    `hybrid:MODEL.json` in place of the scenario's backend.
    """

    def __init__(self, scenario: str, num_envs: int = 1, dynamics: str | None = None) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def scenario_path(self) -> str: ...
    @property
    def num_envs(self) -> int: ...
    @property
    def control_period(self) -> float:
        """Seconds of simulated time per step."""
    @property
    def max_episode_steps(self) -> int:
        """The scenario's `task.horizon_steps`."""
    @property
    def dynamics(self) -> str:
        """`physics`, `learned` or `hybrid`."""
    @property
    def state_names(self) -> list[str]: ...
    def observation_fields(self) -> list[dict[str, Any]]:
        """One dict per field: `name`, `shape`, `unit`, `element_names`, `low`, `high` (float64, flat)."""
    def observation_images(self) -> list[dict[str, Any]]:
        """One dict per camera image: `name` (`CAMERA.rgb`, `.depth`, `.segmentation`), `camera`,
        `shape` ([H, W, C]), `dtype` (`uint8`, `float32`, `uint16`), `encoding` (ROS: `rgb8`,
        `32FC1`, `16UC1`), `unit`, `intrinsics` ([fx, fy, cx, cy], pixels), `legend` (segment id
        k is `legend[k - 1]`). Empty without cameras."""
    def action_spec(self) -> dict[str, Any]:
        """`names`, `units`, `low`, `high` (float64 arrays of the action's length A)."""
    def lerobot_layout(self) -> dict[str, Any]:
        """How dreamrig's LeRobot datasets lay out this scenario's frames: `fps` (int, Hz),
        `task` (str), `state_fields` (fields concatenated into `observation.state`, in order),
        `array_features` ([(field, feature key)]), `features` ({key: {dtype, shape, names}}).
        Raises ScenarioError when the control rate is not a whole number of hertz."""
    def state_values(self) -> npt.NDArray[np.float64]:
        """The full state of every world, [B, S] float64 (`observation.environment_state`)."""
    def reset(self, seeds: Sequence[int]) -> tuple[Observation, dict[str, Any]]:
        """Resets world i with seeds[i] (B seeds). Returns arrays of B rows."""
    def step(
        self, actions: npt.NDArray[np.float64], reset_seeds: Sequence[int | None] | None = None
    ) -> tuple[Observation, npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict[str, Any]]:
        """Steps with actions [B, A] float64; world i is reset instead where reset_seeds[i] is an int.
        Returns (observation, reward [B], terminated [B], truncated [B], info)."""
    def get_state(self, index: int = 0) -> WorldState: ...
    def set_state(self, state: WorldState, index: int = 0) -> Observation:
        """Puts world `index` in `state`; returns its observation (unbatched)."""
    def step_to(
        self, action: npt.NDArray[np.float64], next: npt.NDArray[np.float64], index: int = 0
    ) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Scores a step computed elsewhere (another engine, a real robot): world `index` moves to
        state `next` [S] as if its physics had reached it under `action` [A]; the scenario's sensors
        and task read it. Returns (observation, reward, terminated, truncated, info), unbatched.
        Physics worlds only."""

class BuiltinPolicy:
    """dreamrig's Rust baselines and controllers (`zero`, `random`, `auto`, `lqr`, `reach`,
    `navigate`, `push`) as a batched callable: observation [B, ...] → actions [B, A] float64."""

    def __init__(self, name: str, scenario: str, dynamics: str | None = None) -> None: ...
    def reset(self, seeds: Sequence[int]) -> None: ...
    def __call__(self, observation: Observation) -> npt.NDArray[np.float64]: ...

def evaluate(
    spec: str,
    out: str,
    policies: Mapping[str, Callable[[Observation], Any]] | None = None,
    threads: int | None = None,
    resume: bool = False,
    dynamics: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    record_dataset: str | None = None,
) -> str:
    """Runs an evaluation spec; returns the summary rows as JSON text (see `dreamrig.evaluate`)."""

def episode_seed(master: int, scenario: str, episode: int) -> int:
    """The seed of episode `episode` of `scenario` in an evaluation with master seed `master`."""

def rank_agreement(reference: Sequence[float], candidate: Sequence[float]) -> dict[str, float]:
    """Pearson r, Spearman ρ and MMRV of a candidate's per-policy scores against a reference's
    (the measures of `dreamrig wm compare`)."""

def scenarios() -> list[tuple[str, str]]:
    """The shipped scenarios as (name, path), sorted."""

def _test_panic() -> None: ...
