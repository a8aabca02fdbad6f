"""Events: intake, lifecycle, deadlines, supervision and evaluation."""
