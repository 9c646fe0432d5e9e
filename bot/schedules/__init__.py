"""On-call schedules: rotations, layers, overrides, restrictions and calendar feeds."""
