"""Camera rendering speed of dreamrig against MuJoCo's offscreen renderer, on the same URDF, in
one run (scripts/bench-render.sh runs it).

The scene: the shipped 7-DOF arm (`scenarios/robots/arm7.urdf`) on a ground plane, seen by one
camera 1.6 m in front of it, 0.9 m up, pitched 20° down, with a 60° vertical field of view, at
128×128, 224×224 and 640×480. dreamrig draws the URDF's `<visual>` shapes with its camera sensor
(`examples/render_rate.rs`: the world's observation taken again and again from one state, so a
frame is a render plus its read-back into the observation). MuJoCo loads the same URDF through
`mujoco.MjSpec`, which keeps its collision shapes (here slightly thinner and shorter cylinders
than the visuals, and no end-effector sphere: a little less to draw), adds the same camera and a
ground plane, and renders with `mujoco.Renderer` (update_scene + render, the RGB array read
back), through EGL on Mesa's llvmpipe: software OpenGL on the CPU, as dreamrig's Vulkan runs on
Mesa's lavapipe (both forced to the CPU here, and checked). MuJoCo is measured twice: with its
defaults (shadows, reflections, 4× multisampling) and with shadows, reflections and
multisampling off, which is what dreamrig draws (one directional light and ambient).

Per core: both Mesa drivers rasterize on LP_NUM_THREADS threads, which this script sets to 1,
and each rate is frames per CPU-second of the process that renders (its user + system time,
every thread, start-up included for dreamrig's subprocess), so neither side gains from a second
core. Prints a Markdown table; --json FILE also writes the rows.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["LP_NUM_THREADS"] = "1"
os.environ["MUJOCO_GL"] = "egl"
# Mesa's software drivers, never a GPU: llvmpipe for EGL, lavapipe for Vulkan (checked below).
os.environ["LIBGL_ALWAYS_SOFTWARE"] = "1"
os.environ["EGL_PLATFORM"] = "surfaceless"
os.environ.setdefault("NODEVICE_SELECT", "1")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
URDF = REPO / "scenarios/robots/arm7.urdf"
RESOLUTIONS = [(128, 128), (224, 224), (640, 480)]
POSITION = [1.6, 0.0, 0.9]
PITCH = math.radians(20.0)
FOVY = 60.0


def mount_rotation() -> np.ndarray:
    """The camera body's axes in the world (REP-103: x forward, y left, z up): yaw π, pitch 20° down."""
    yaw = math.pi
    rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    ry = np.array([[math.cos(PITCH), 0, math.sin(PITCH)], [0, 1, 0], [-math.sin(PITCH), 0, math.cos(PITCH)]])
    return rz @ ry


def scenario(out_dir: Path, width: int, height: int) -> Path:
    text = "\n".join(
        [
            "version: 1",
            f"name: bench-render-{width}x{height}",
            "robot:",
            f"  urdf: {json.dumps(str(URDF))}",
            "  base: {fixed: true}",
            "sensors:",
            f"  - camera: {{name: front, position: {json.dumps(POSITION)}, rpy: [0.0, {PITCH}, {math.pi}], "
            f"width: {width}, height: {height}, vertical_fov_deg: {FOVY}, outputs: [rgb]}}",
            "task: {kind: balance, horizon_steps: 1000}",
            "timing: {physics_dt: 0.002, control_period: 0.02}",
            "",
        ]
    )
    path = out_dir / f"bench-render-{width}x{height}.yaml"
    path.write_text(text)
    return path


def cpu_seconds(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def dreamrig_fps(example: str, path: Path, seconds: float) -> float:
    """Frames per CPU-second of the render_rate process (all its threads, start-up included)."""
    before = cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
    out = subprocess.run([example, str(path), str(seconds)], capture_output=True, text=True)
    cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)) - before
    if out.returncode != 0:
        sys.exit(f"render_rate {path}: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    if not report["cpu"]:
        sys.exit(f"render_rate rendered on {report['adapter']}, not on the CPU: install Mesa's lavapipe, or hide the GPU")
    return (report["frames"] + 5) / cpu


def mujoco_model() -> mujoco.MjModel:
    spec = mujoco.MjSpec.from_file(str(URDF))
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1])
    spec.worldbody.add_light(pos=[0, 0, 3], dir=[0.3, 0.2, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
    # MuJoCo's camera looks along its −z with +y up: x = −y_body, y = z_body, z = −x_body.
    body = mount_rotation()
    axes = np.column_stack([-body[:, 1], body[:, 2], -body[:, 0]])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, axes.flatten())
    spec.worldbody.add_camera(name="front", pos=POSITION, quat=quat, fovy=FOVY)
    return spec.compile()


def mujoco_fps(model: mujoco.MjModel, width: int, height: int, seconds: float, plain: bool) -> float:
    """Frames per CPU-second of this process while rendering (all its threads)."""
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    model.vis.quality.offsamples = 0 if plain else 4
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    options = mujoco.MjvOption()
    with mujoco.Renderer(model, height, width) as renderer:
        if plain:
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        for _ in range(5):
            renderer.update_scene(data, camera="front", scene_option=options)
            renderer.render()
        import OpenGL.GL as gl  # noqa: PLC0415 (PyOpenGL comes with mujoco's EGL backend)

        device = gl.glGetString(gl.GL_RENDERER).decode()
        if "llvmpipe" not in device and "softpipe" not in device:
            sys.exit(f"MuJoCo renders on {device}, not on Mesa's CPU rasterizer")
        frames, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            renderer.update_scene(data, camera="front", scene_option=options)
            image = renderer.render()
            frames += 1
        assert image.shape == (height, width, 3)
        return frames / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", required=True, help="the render_rate example binary")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    model = mujoco_model()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in RESOLUTIONS:
            ours = dreamrig_fps(args.example, scenario(Path(tmp), width, height), args.seconds)
            default = mujoco_fps(model, width, height, args.seconds, plain=False)
            plain = mujoco_fps(model, width, height, args.seconds, plain=True)
            rows.append({"resolution": f"{width}×{height}", "dreamrig_fps": ours, "mujoco_default_fps": default, "mujoco_plain_fps": plain})
    print("| resolution | dreamrig (lavapipe) | MuJoCo defaults (llvmpipe) | dreamrig / MuJoCo | MuJoCo, no shadows, reflections or MSAA | dreamrig / MuJoCo |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['resolution']} | {r['dreamrig_fps']:.0f} fps | {r['mujoco_default_fps']:.0f} fps | "
            f"{r['dreamrig_fps'] / r['mujoco_default_fps']:.1f}× | {r['mujoco_plain_fps']:.0f} fps | "
            f"{r['dreamrig_fps'] / r['mujoco_plain_fps']:.1f}× |"
        )
    print(f"\nFrames per CPU-second, one rasterizer thread each (LP_NUM_THREADS=1); MuJoCo {mujoco.__version__}.")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
