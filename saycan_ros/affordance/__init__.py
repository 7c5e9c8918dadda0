"""World grounding: p(success | state, skill) for every candidate skill (SayCan's value function)."""
