#!/usr/bin/env python3
"""Latency on the wire: from a loopback capture, the time from each request's first packet into
the server to its response's first packet out, as percentiles. Compared with the client's own
numbers (wrk, the load tool) and the server's log lines, it says which side a slow answer's time
was spent on. Keep-alive connections, one request at a time on each (wrk and the load tool).

    tcpdump -i lo -s 96 -B 65536 -w /dev/shm/cap.pcap "tcp port 8000" &   # then run the load
    scripts/wire-latency.py /dev/shm/cap.pcap 8000
"""
import re
import subprocess
import sys

capture, port = sys.argv[1], sys.argv[2]
packets = subprocess.run(
    ["tcpdump", "-r", capture, "-tt", "-n"], capture_output=True, text=True, check=True
).stdout
packet = re.compile(r"^(\d+\.\d+) IP [\d.]+\.(\d+) > [\d.]+\.(\d+): .* length (\d+)")

asked = {}  # client port -> when its pending request's first packet came in
took = []
for line in packets.splitlines():
    m = packet.match(line)
    if not m or m[4] == "0":
        continue
    at, source, dest = float(m[1]), m[2], m[3]
    if dest == port:
        asked.setdefault(source, at)
    elif source == port and dest in asked:
        took.append((at - asked.pop(dest)) * 1000)

if not took:
    sys.exit(f"no request and response on port {port} in {capture}")
took.sort()


def percentile(share):
    return took[min(len(took) - 1, int(len(took) * share))]


print(
    f"requests {len(took)}  p50 {percentile(0.5):.2f}  p90 {percentile(0.9):.2f}  "
    f"p99 {percentile(0.99):.2f}  p99.9 {percentile(0.999):.2f}  max {took[-1]:.2f} ms"
)
