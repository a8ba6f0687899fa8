"""Scale-out: the same jobs on Ray (local workers or an existing cluster)."""
