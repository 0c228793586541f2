"""`python -m sim bench [--quick]`: throughput, timing, memory and dissector benchmarks.

Every row compares a measurement with a ceiling measured in the same run on the same machine
(the machine is shared and noisy, so absolute numbers mean little and ratios mean much):

1. clean-link chat: messages/s from client A to client B through two `daemon.py` processes, vs
   a bare asyncio UDP ping-pong between two processes (the stop-and-wait ceiling in Python);
2. the same chat through `sim.relay.Relay` (its own process, empty fault plan) vs the same
   ping-pong; and the relay's forwarding rate vs a minimal asyncio forwarder;
3. time per message under seeded Bernoulli loss on both directions vs the stop-and-wait
   expectation RTT + T_o * (1/(1-p)^2 - 1);
4. the scenario catalog under the virtual clock: wall time vs the protocol time it simulates,
   and `pytest -n 2 scenarios/` vs its 10 s budget;
5. a `daemon.py` process's VmRSS after 10,000 messages and after 1,000 chats vs idle;
6. packets/s decoding a harness pcap with the SIMP layers vs scapy with them unbound.

The daemons are real `daemon.py` processes, not in-process Daemon objects: that is what users
run, the ping-pong ceiling is measured between two processes in the same way, and a daemon
cannot borrow the harness's event loop.  The clients are `simp.client.Client` objects in this
process.  Every process started here is ended here, by its own handle; every loop is bounded in
count and in time.

The package is separate from the harness it measures: its modules import the harness (the
relay, the runner, the trace), never the other way round; only `sim/cli.py` imports
`sim.bench.cli`, inside the `bench` command.

    model.py    Row, Target, BenchConfig, Report: plain data, no harness imports
    rows.py     the row functions and STEPS, the ordered list the command runs
    procs.py    daemon.py and worker processes, clients, timed chats
    workers.py  the helper processes (`python -m sim.bench.workers`): echo, ping, forwarders
    cli.py      running STEPS within the time budget, the table, the exit status

How to add a row:

1. write `def my_rows(config: BenchConfig) -> list[Row]` (in rows.py, or in a module of its
   own under sim/bench/) that measures something AND its ceiling in the same run, and returns
   one `Row` per line of the table: `value`/`unit` what was measured, `ceiling`/`ceiling_unit`
   what it is compared with, `ratio` the number judged, `target` a `Target(low=..., high=...)`
   for the ratio, `note` how it was measured.  Raise (e.g. `BenchError`) when the measurement
   cannot be made: the row then reads ERROR with the exception as its note.  Never return a row
   with a made-up number: zero and NaN count as "not measured" and fail;
2. if it needs workload sizes, add fields with defaults to `BenchConfig` (and smaller ones in
   `quick()` and `smoke()`);
3. append `("title (row N)", my_rows)` to `STEPS` at the end of rows.py, and the row names to
   `ROWS` in tests/test_bench.py, which runs every step on its smallest workload.
"""
