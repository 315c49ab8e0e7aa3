#!/usr/bin/env python3
"""Writes the lab-start benchmark script: 100 namespaces, each with a veth,
an address and 1,000 routes (101,400 lines), then one `ip route get`.

    Benchmarks/scripts/lab-100x1000.py > /tmp/lab100.sh
    time .build/release/netstack lab /tmp/lab100.sh
"""
lines = []
for n in range(100):
    lines += [f"ip netns add n{n}",
              f"ip -n n{n} link add v0 type veth peer name v1",
              f"ip -n n{n} addr add 10.0.0.1/24 dev v0",
              f"ip -n n{n} link set v0 up"]
    lines += [f"ip -n n{n} route add 10.{1 + r // 250}.{r % 250}.0/24 via 10.0.0.2" for r in range(1000)]
lines.append("ip -n n99 route get 10.4.249.7")
print("\n".join(lines))
