"""`python -m sim check`: exhaustive, bounded model checking of the real protocol core.

    nodestate.py   a Node's state from outside: copy, fingerprint, which floats are times, shift
    model.py       bounds, the global state, its transitions (users, network, timers)
    properties.py  the properties: always, eventually, sometimes
    bfs.py         breadth-first search, shortest counterexamples, the outcome
    replay.py      a path at concrete times, the scenario YAML that replays it, harness verdicts
    cli.py         the command line and the results table
"""
