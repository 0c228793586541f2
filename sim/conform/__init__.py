"""The SIMP conformance suite: a raw peer, 25+ scripted cases, reports (`python -m sim conform`)."""
