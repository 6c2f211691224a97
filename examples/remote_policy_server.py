"""A dreamrig remote policy served over Zenoh, in Python.

It answers `dreamrig-remote-policy/1` queries (docs/remote-policies.md) with a linear state
feedback for `cartpole-balance`: force = -K · (cart position, pole angle, cart velocity,
pole angular velocity). dreamrig's evaluation runner sends one query per control step for a
batch of episodes; this server answers each episode in the batch.

    python examples/remote_policy_server.py --key policies/cartpole
    dreamrig eval evals/remote-cartpole.yaml --out runs/remote

When nothing listens on the router endpoint (default tcp/127.0.0.1:7447, where rmw_zenoh's
router lives), the server serves it in router mode itself, so it works with or without a
router and whichever of it and dreamrig starts first.

Needs `pip install eclipse-zenoh` (1.x).
"""
import argparse
import json
import socket
import sys
import threading
import time

import zenoh

# The discrete-time LQR gain the Rust `lqr` controller computes for the shipped cart-pole
# (20 ms control period, Q = diag(1, 20, 1, 2), R = 0.05).
DEFAULT_GAIN = [-3.777, -57.238, -7.073, -15.043]


def open_session(endpoint):
    host, port = endpoint.removeprefix("tcp/").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.3).close()
        listening = True
    except OSError:
        listening = False
    config = zenoh.Config()
    config.insert_json5("scouting/multicast/enabled", "false")
    if listening:
        config.insert_json5("mode", '"peer"')
        config.insert_json5("connect/endpoints", json.dumps([endpoint]))
    else:
        config.insert_json5("mode", '"router"')
        config.insert_json5("listen/endpoints", json.dumps([endpoint]))
    return zenoh.open(config), ("joined" if listening else "serving")


def act(gain, limit, observation):
    position = observation["joint_state.position"]
    velocity = observation["joint_state.velocity"]
    state = [position[0], position[1], velocity[0], velocity[1]]
    force = -sum(k * x for k, x in zip(gain, state))
    return [max(-limit, min(limit, force))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default="policies/cartpole", help="Zenoh key to answer on")
    parser.add_argument("--router", default="tcp/127.0.0.1:7447", help="router endpoint to join or serve")
    parser.add_argument("--gain", type=float, nargs=4, default=DEFAULT_GAIN, help="state feedback gain K")
    parser.add_argument("--limit", type=float, default=20.0, help="largest force, N")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait this long before each reply (to test timeouts)")
    parser.add_argument("--exit-after", type=int, default=0, help="exit after this many queries (to test crashes)")
    args = parser.parse_args()

    session, role = open_session(args.router)
    queries = 0
    done = threading.Event()

    def on_query(query):
        nonlocal queries
        queries += 1
        if args.exit_after and queries > args.exit_after:
            done.set()
            return
        try:
            request = json.loads(query.payload.to_bytes())
            if request.get("format") != "dreamrig-remote-policy/1":
                raise ValueError(f"unknown format {request.get('format')!r}")
            actions = [act(args.gain, args.limit, e["observation"]) for e in request["episodes"]]
            reply = {"actions": actions}
        except Exception as error:  # the runner reports it as the episode's failure
            reply = {"error": f"{type(error).__name__}: {error}"}
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        query.reply(query.key_expr, json.dumps(reply))

    queryable = session.declare_queryable(args.key, on_query)
    print(f"remote policy on {args.key} ({role} {args.router})", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    queryable.undeclare()
    session.close()
    # Exit at once, as a crashed server would: pending queries get no reply.
    sys.stdout.flush()
    if args.exit_after:
        import os
        os._exit(3)


if __name__ == "__main__":
    main()
