"""Rate and latency of received samples, shared by the bridge benchmarks (bench_bridges.py over
Zenoh, bench_ros2.py over rcl) so both report the same figures the same way."""
import statistics


def rate_and_latency(samples):
    """`samples`: (receive time ns, latency ns) per message, in arrival order (at least 2).
    Returns messages, rate (Hz over the span from first to last) and the median and 99th
    percentile latency in ms."""
    latencies = sorted(latency / 1e6 for _, latency in samples)
    span = (samples[-1][0] - samples[0][0]) / 1e9
    return {
        "messages": len(samples),
        "hz": round((len(samples) - 1) / span, 1),
        "latency_ms_p50": round(statistics.median(latencies), 3),
        "latency_ms_p99": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
    }
