"""Policy: the Rego policy set, its engines and the decision document they return."""
